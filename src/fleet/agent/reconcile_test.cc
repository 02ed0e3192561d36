#include "fleet/agent/reconcile.h"

#include <gtest/gtest.h>

namespace continuum::fleet {
namespace {

std::string D(char c) { return "sha256:" + std::string(64, c); }
Target T(const std::string& model, char digest) {
  return {model, "127.0.0.1:5000/models/" + model + "@" + D(digest), D(digest), "dep-" + model};
}
InstalledModel I(const std::string& model, char digest, int64_t since = 0) {
  return {model, D(digest), "127.0.0.1:5000/models/" + model + "@" + D(digest), "dep-" + model, since};
}
std::vector<std::string> Models(const std::vector<Target>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(t.model);
  return out;
}
using V = std::vector<std::string>;

TEST(ReconcileTest, FreshNodeInstallsEveryTarget) {
  auto plan = PlanReconcile({T("a", 'a'), T("b", 'b')}, {}, {});
  EXPECT_EQ(Models(plan.install), (V{"a", "b"}));
  EXPECT_TRUE(plan.keep.empty());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_FALSE(plan.empty());
}

TEST(ReconcileTest, InstalledAtTheDigestIsKept) {
  // What a restart or a reconnect after an outage sees: nothing to do.
  auto plan =
      PlanReconcile({T("a", 'a'), T("b", 'b')}, {{"a", D('a')}, {"b", D('b')}}, {I("a", 'a'), I("b", 'b')});
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(Models(plan.keep), (V{"a", "b"}));
}

TEST(ReconcileTest, NewDigestAndRollbackInstall) {
  auto plan = PlanReconcile({T("a", 'c')}, {{"a", D('a')}}, {I("a", 'a')});
  EXPECT_EQ(Models(plan.install), (V{"a"}));
  EXPECT_EQ(plan.install[0].digest, D('c'));
  EXPECT_TRUE(plan.remove.empty());
}

TEST(ReconcileTest, TheRepositoryIsTheTruthNotTheStateFile) {
  // The state file says installed, the repository does not have it (removed by hand): install.
  auto plan = PlanReconcile({T("a", 'a')}, {}, {I("a", 'a')});
  EXPECT_EQ(Models(plan.install), (V{"a"}));
  // Installed by someone else at the target's digest: kept, not reinstalled.
  plan = PlanReconcile({T("b", 'b')}, {{"b", D('b')}}, {});
  EXPECT_TRUE(plan.empty());
}

TEST(ReconcileTest, OnlyWhatTheAgentInstalledIsRemoved) {
  auto plan = PlanReconcile({T("a", 'a')}, {{"a", D('a')}, {"mine", D('m')}, {"operators", D('o')}},
                            {I("a", 'a'), I("mine", 'm')});
  EXPECT_EQ(plan.remove, (V{"mine"}));
  EXPECT_TRUE(plan.install.empty());
  // An empty document removes every model the agent installed, and only those.
  plan = PlanReconcile({}, {{"a", D('a')}, {"operators", D('o')}}, {I("a", 'a'), I("gone", 'g')});
  EXPECT_EQ(plan.remove, (V{"a", "gone"}));
}

TEST(ReconcileTest, RecordInstalledKeepsSinceOnlyForTheSameDigest) {
  auto list = RecordInstalled({I("b", 'b', 5), I("a", 'a', 7)}, T("a", 'a'));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].model, "a");
  EXPECT_EQ(list[0].since_ms, 7);
  EXPECT_EQ(list[1].model, "b");
  list = RecordInstalled(list, T("a", 'c'));
  EXPECT_EQ(list[0].digest, D('c'));
  EXPECT_EQ(list[0].since_ms, 0);
  EXPECT_EQ(list[0].deployment, "dep-a");
  list = RecordInstalled(list, T("c", 'c'));
  EXPECT_EQ(list.size(), 3u);
  list = RecordRemoved(list, "b");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].model, "a");
  EXPECT_EQ(list[1].model, "c");
  EXPECT_EQ(RecordRemoved(list, "zzz").size(), 2u);
}

}  // namespace
}  // namespace continuum::fleet
