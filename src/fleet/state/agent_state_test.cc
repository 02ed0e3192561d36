#include <gtest/gtest.h>

#include <fstream>

#include "common/test_temp_dir.h"
#include "fleet/state/desired_state.h"

namespace continuum::fleet {
namespace {

namespace fs = std::filesystem;

AgentState Sample() {
  AgentState s;
  s.highest_sequence = 41;
  s.payload_sha256 = std::string(64, 'c');
  s.envelope = R"({"payloadType":"x","payload":"e30=","signatures":[{"sig":"AA=="}]})";
  s.installed = {
      {"add_sub", "sha256:" + std::string(64, 'a'), "r/m@sha256:" + std::string(64, 'a'), "adds", 17},
      {"mlp", "sha256:" + std::string(64, 'b'), "", "", 0}};
  return s;
}

void WriteFile(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(AgentStateTest, JsonRoundTrip) {
  auto back = ParseAgentState(AgentStateJson(Sample()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, Sample());
}

TEST(AgentStateTest, StrictParse) {
  const std::string good = AgentStateJson(Sample());
  auto bad = [](std::string json, std::string_view from, std::string_view to) {
    json.replace(json.find(from), from.size(), to);
    return ParseAgentState(json);
  };
  auto s = bad(good, "\"highest_sequence\":41", "\"highest_sequence\":-1");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("highest_sequence"), std::string::npos);
  s = bad(good, "\"since_ms\":17", "\"since_ms\":17,\"x\":true");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("installed[0].x"), std::string::npos) << s.status().message();
  s = bad(good, "\"model\":\"mlp\"", "\"model\":\"add_sub\"");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("listed twice"), std::string::npos) << s.status().message();
  AgentStateLimits limits;
  limits.max_installed = 1;
  EXPECT_FALSE(ParseAgentState(good, limits).ok());
}

TEST(AgentStateTest, SaveLoad) {
  testing::TempDir dir("fleet-agent-state-");
  const fs::path path = dir.path() / "agent-state.json";
  auto none = LoadAgentState(path);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(SaveAgentState(path, Sample()).ok());
  auto loaded = LoadAgentState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, Sample());
  AgentState next = Sample();
  next.highest_sequence = 42;
  next.installed.pop_back();
  ASSERT_TRUE(SaveAgentState(path, next).ok());
  EXPECT_EQ(**LoadAgentState(path), next);
  // Only the state file is left: the temporary files were renamed.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(AgentStateTest, TornTemporaryFileIgnored) {
  testing::TempDir dir("fleet-agent-state-");
  const fs::path path = dir.path() / "agent-state.json";
  ASSERT_TRUE(SaveAgentState(path, Sample()).ok());
  // A save killed before its rename: half a file beside the real one.
  const std::string json = AgentStateJson(Sample());
  WriteFile(path.string() + ".tmp.12345", json.substr(0, json.size() / 2));
  auto loaded = LoadAgentState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(**loaded, Sample());
  // And the next save still works.
  ASSERT_TRUE(SaveAgentState(path, AgentState{}).ok());
  EXPECT_EQ(**LoadAgentState(path), AgentState{});
}

TEST(AgentStateTest, CorruptOrOversizeFileIsAnError) {
  testing::TempDir dir("fleet-agent-state-");
  const fs::path path = dir.path() / "agent-state.json";
  const std::string json = AgentStateJson(Sample());
  WriteFile(path, json.substr(0, json.size() - 5));
  auto loaded = LoadAgentState(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find(path.string()), std::string::npos) << loaded.status().message();
  WriteFile(path, json);
  EXPECT_EQ(LoadAgentState(path, 10).status().code(), StatusCode::kPayloadTooLarge);
}

TEST(AgentStateTest, SaveIntoMissingFolderFails) {
  testing::TempDir dir("fleet-agent-state-");
  EXPECT_FALSE(SaveAgentState(dir.path() / "no" / "agent-state.json", Sample()).ok());
}

}  // namespace
}  // namespace continuum::fleet
