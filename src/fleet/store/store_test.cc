// One suite run against both backends (SQLite and PostgreSQL), then the PostgreSQL-only cases: two
// Store objects ("replicas") on one database, concurrent schema creation, a server restart.
// The PostgreSQL cases start a throwaway server with tools/postgres.sh (skipped with a message when
// PostgreSQL is not installed) and stop it when the suite ends.
#include "fleet/store/store.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

namespace continuum::fleet {
namespace {

namespace fs = std::filesystem;

// A free TCP port on loopback (the kernel's choice).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// The server tools/postgres.sh starts, shared by the tests of one process.
class PgServer {
 public:
  // Starts the server once; "" when it runs, else why there is none (not installed, or a failure).
  static std::string Start() {
    if (!uri_.empty()) return "";
    const char* bin = std::getenv("PG_BIN");
    if (!fs::exists(fs::path(bin ? bin : "/usr/lib/postgresql/15/bin") / "initdb"))
      return "PostgreSQL 15 is not installed (apt-get install postgresql)";
    dir_ = fs::temp_directory_path() / ("fleet-store-pg-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    port_ = FreePort();
    std::string out;
    const std::string cmd = std::string("bash ") + CONTINUUM_POSTGRES_SH + " start " + dir_.string() + " " +
                            std::to_string(port_) + " 2>&1";
    const int rc = Run(cmd, &out);
    if (rc != 0) return "tools/postgres.sh start failed (" + std::to_string(rc) + "): " + out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    uri_ = out.substr(out.rfind('\n') + 1);
    return "";
  }
  static void Stop() {
    if (dir_.empty()) return;
    std::string out;
    (void)Run(std::string("bash ") + CONTINUUM_POSTGRES_SH + " stop " + dir_.string() + " 2>&1", &out);
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
    uri_.clear();
  }
  // Stops and starts the server on the same folder and port: the clients' connections drop.
  static void Restart() {
    std::string out;
    ASSERT_EQ(Run(std::string("bash ") + CONTINUUM_POSTGRES_SH + " stop " + dir_.string() + " 2>&1", &out), 0)
        << out;
    ASSERT_EQ(Run(std::string("bash ") + CONTINUUM_POSTGRES_SH + " start " + dir_.string() + " " +
                      std::to_string(port_) + " 2>&1",
                  &out),
              0)
        << out;
  }
  static const std::string& uri() { return uri_; }

 private:
  static int Run(const std::string& cmd, std::string* out) {
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
    return ::pclose(p);
  }
  static inline std::string uri_;
  static inline fs::path dir_;
  static inline int port_ = 0;
};

// Each test's own schema on the shared server.
std::string SchemaForTest() {
  static std::atomic<int> n{0};
  std::string s = "t" + std::to_string(n++) + "_";
  for (char c : std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    s += (std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_');
  }
  return s.substr(0, 60);
}

// Runs one SQL statement on `uri` outside the store (to fake a newer schema).
void PgExec(const std::string& uri, const std::string& sql) {
  PGconn* c = PQconnectdb(uri.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
}

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() { PgServer::Stop(); }

  void SetUp() override {
    if (GetParam() == "postgresql") {
      if (std::string why = PgServer::Start(); !why.empty()) GTEST_SKIP() << why;
      options_.pg_schema = SchemaForTest();
    }
  }

  std::string Url() const {
    return GetParam() == "postgresql" ? PgServer::uri() : "sqlite:" + (dir_.path() / "hub.db").string();
  }

  std::unique_ptr<Store> Open() { return Open(options_); }
  std::unique_ptr<Store> Open(const StoreOptions& o) {
    auto s = OpenStore(Url(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  void SetSchemaVersion(int64_t v) {
    if (GetParam() == "postgresql") {
      PgExec(PgServer::uri(),
             "UPDATE " + options_.pg_schema + ".schema_version SET version = " + std::to_string(v));
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() / "hub.db").c_str(), &db), SQLITE_OK);
    const std::string sql = "UPDATE schema_version SET version = " + std::to_string(v);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  // (common/test_temp_dir.h names the folder after the test, whose name here holds a '/'.)
  struct Dir {
    Dir() {
      std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      for (char& c : name)
        if (c == '/') c = '-';
      p = fs::temp_directory_path() / ("fleet-store-" + std::to_string(::getpid()) + "-" + name);
      fs::remove_all(p);
      fs::create_directories(p);
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
    const fs::path& path() const { return p; }
    fs::path p;
  } dir_;
  StoreOptions options_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreTest, CreateReadUpdateWithRevisions) {
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->backend(), GetParam());
  auto missing = s->Get(DocKind::kDeployment, "add-sub");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_FALSE(missing->has_value());

  auto r1 = s->Put(DocKind::kDeployment, "add-sub", R"({"v":1})", 0, 1000);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(*r1, 1);
  auto got = s->Get(DocKind::kDeployment, "add-sub");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->name, "add-sub");
  EXPECT_EQ((*got)->json, R"({"v":1})");
  EXPECT_EQ((*got)->revision, 1);
  EXPECT_EQ((*got)->updated_ms, 1000);

  auto r2 = s->Put(DocKind::kDeployment, "add-sub", R"({"v":2})", 1, 2000);
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(*r2, 2);
  got = s->Get(DocKind::kDeployment, "add-sub");
  EXPECT_EQ((*got)->json, R"({"v":2})");
  EXPECT_EQ((*got)->updated_ms, 2000);

  // A write naming a revision that is no longer stored, a create of an existing document and an
  // update of a missing one are conflicts, and change nothing.
  auto stale = s->Put(DocKind::kDeployment, "add-sub", R"({"v":3})", 1, 3000);
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted);
  EXPECT_NE(stale.status().message().find("conflict: deployment 'add-sub' is at revision 2, not 1"),
            std::string::npos)
      << stale.status().message();
  EXPECT_EQ(s->Put(DocKind::kDeployment, "add-sub", "{}", 0, 3000).status().code(), StatusCode::kAborted);
  EXPECT_EQ(s->Put(DocKind::kDeployment, "other", "{}", 4, 3000).status().code(), StatusCode::kAborted);
  got = s->Get(DocKind::kDeployment, "add-sub");
  EXPECT_EQ((*got)->json, R"({"v":2})");
  EXPECT_EQ((*got)->revision, 2);
  EXPECT_FALSE(s->Get(DocKind::kDeployment, "other")->has_value());
}

TEST_P(StoreTest, ListIsByNameAndPerKind) {
  auto s = Open();
  ASSERT_TRUE(s);
  for (const char* n : {"b", "a", "C", "c"}) ASSERT_TRUE(s->Put(DocKind::kNode, n, "{}", 0, 1).ok());
  ASSERT_TRUE(s->Put(DocKind::kDeployment, "a", R"({"d":1})", 0, 1).ok());
  ASSERT_TRUE(s->Put(DocKind::kRollout, "a", R"({"r":1})", 0, 1).ok());
  ASSERT_TRUE(s->Put(DocKind::kDesiredState, "a", R"({"s":1})", 0, 1).ok());
  auto nodes = s->List(DocKind::kNode);
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  std::vector<std::string> names;
  for (const auto& d : *nodes) names.push_back(d.name);
  EXPECT_EQ(names, (std::vector<std::string>{"C", "a", "b", "c"}));  // bytewise
  auto deployments = s->List(DocKind::kDeployment);
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ(deployments->front().json, R"({"d":1})");
  EXPECT_EQ((*s->Get(DocKind::kRollout, "a"))->json, R"({"r":1})");
  EXPECT_EQ((*s->Get(DocKind::kDesiredState, "a"))->json, R"({"s":1})");
}

TEST_P(StoreTest, UpsertIsLastWriterWins) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto r = s->Upsert(DocKind::kNode, "edge-1", R"({"seen":1})", 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 1);
  r = s->Upsert(DocKind::kNode, "edge-1", R"({"seen":2})", 20);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2);
  auto got = s->Get(DocKind::kNode, "edge-1");
  EXPECT_EQ((*got)->json, R"({"seen":2})");
  EXPECT_EQ((*got)->updated_ms, 20);
  // Put still checks revisions after an Upsert.
  EXPECT_EQ(s->Put(DocKind::kNode, "edge-1", "{}", 1, 30).status().code(), StatusCode::kAborted);
  EXPECT_EQ(*s->Put(DocKind::kNode, "edge-1", "{}", 2, 30), 3);
}

TEST_P(StoreTest, DeleteChecksTheRevision) {
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Delete(DocKind::kDeployment, "x", 1).code(), StatusCode::kNotFound);
  ASSERT_TRUE(s->Put(DocKind::kDeployment, "x", "{}", 0, 1).ok());
  ASSERT_TRUE(s->Put(DocKind::kDeployment, "x", "{}", 1, 1).ok());
  const Status stale = s->Delete(DocKind::kDeployment, "x", 1);
  EXPECT_EQ(stale.code(), StatusCode::kAborted) << stale.ToString();
  EXPECT_TRUE(s->Get(DocKind::kDeployment, "x")->has_value());
  const Status ok = s->Delete(DocKind::kDeployment, "x", 2);
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_FALSE(s->Get(DocKind::kDeployment, "x")->has_value());
  EXPECT_EQ(s->Delete(DocKind::kDeployment, "x", 2).code(), StatusCode::kNotFound);
  // Created again, it starts over at revision 1; kAnyRevision deletes whatever is there.
  EXPECT_EQ(*s->Put(DocKind::kDeployment, "x", "{}", 0, 1), 1);
  EXPECT_TRUE(s->Delete(DocKind::kDeployment, "x", kAnyRevision).ok());
  EXPECT_EQ(s->Delete(DocKind::kDeployment, "x", kAnyRevision).code(), StatusCode::kNotFound);
}

TEST_P(StoreTest, ChangeCounterMovesWithEveryDocumentWrite) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto c0 = s->ChangeCounter();
  ASSERT_TRUE(c0.ok()) << c0.status().ToString();
  ASSERT_TRUE(s->Put(DocKind::kDeployment, "x", "{}", 0, 1).ok());
  EXPECT_EQ(*s->ChangeCounter(), *c0 + 1);
  ASSERT_TRUE(s->Upsert(DocKind::kNode, "n", "{}", 1).ok());
  EXPECT_EQ(*s->ChangeCounter(), *c0 + 2);
  ASSERT_FALSE(s->Put(DocKind::kDeployment, "x", "{}", 7, 1).ok());  // a conflict changes nothing
  ASSERT_TRUE(s->NextSequence("n").ok());                            // not a document
  ASSERT_TRUE(s->AppendEvent({0, 1, "hub", "started", ""}).ok());    // neither
  EXPECT_EQ(*s->ChangeCounter(), *c0 + 2);
  ASSERT_TRUE(s->Delete(DocKind::kDeployment, "x", 1).ok());
  EXPECT_EQ(*s->ChangeCounter(), *c0 + 3);
}

TEST_P(StoreTest, SequencesCountPerNode) {
  auto s = Open();
  ASSERT_TRUE(s);
  for (int64_t i = 1; i <= 3; ++i) {
    auto n = s->NextSequence("edge-1");
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, i);
  }
  EXPECT_EQ(*s->NextSequence("edge-2"), 1);
  EXPECT_EQ(*s->NextSequence("edge-1"), 4);
}

TEST_P(StoreTest, EventsPageAndFilterBySubject) {
  auto s = Open();
  ASSERT_TRUE(s);
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) {
    const Event e{0, 1000 + i, i % 2 ? "node/edge-1" : "deployment/add-sub", "step",
                  "reason " + std::to_string(i)};
    auto id = s->AppendEvent(e);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    if (!ids.empty()) {
      EXPECT_GT(*id, ids.back());
    }
    ids.push_back(*id);
  }
  auto page = s->Events(0, 3);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].id, ids[0]);
  EXPECT_EQ((*page)[0].at_ms, 1000);
  EXPECT_EQ((*page)[0].subject, "deployment/add-sub");
  EXPECT_EQ((*page)[0].kind, "step");
  EXPECT_EQ((*page)[0].reason, "reason 0");
  page = s->Events(page->back().id, 100);
  ASSERT_EQ(page->size(), 7u);
  EXPECT_EQ(page->front().id, ids[3]);
  EXPECT_EQ(page->back().reason, "reason 9");

  auto node = s->Events(0, 100, "node/edge-1");
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->size(), 5u);
  for (const auto& e : *node) EXPECT_EQ(e.subject, "node/edge-1");
  node = s->Events((*node)[1].id, 2, "node/edge-1");
  ASSERT_EQ(node->size(), 2u);
  EXPECT_EQ((*node)[0].reason, "reason 5");

  EXPECT_TRUE(s->Events(0, 0)->empty());
  EXPECT_TRUE(s->Events(ids.back(), 10)->empty());
  EXPECT_EQ(s->Events(0, -1).status().code(), StatusCode::kInvalidArgument);
  StoreOptions small = options_;
  small.max_events_page = 4;
  auto capped = Open(small);
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->Events(0, 1000)->size(), 4u);
}

TEST_P(StoreTest, OldestEventsArePruned) {
  StoreOptions o = options_;
  o.max_events = 3;
  auto s = Open(o);
  ASSERT_TRUE(s);
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) last = *s->AppendEvent({0, i, "hub", "k", std::to_string(i)});
  auto all = s->Events(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->front().reason, "2");
  EXPECT_EQ(all->back().id, last);
  // Ids keep increasing after pruning.
  EXPECT_GT(*s->AppendEvent({0, 9, "hub", "k", "5"}), last);
}

TEST_P(StoreTest, LeasesTakeRenewRefuseExpireRelease) {
  auto s = Open();
  ASSERT_TRUE(s);
  auto a = s->TryLease("rollouts", "hub-a", 1000, 100);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(*a);                                             // free: taken until 1100
  EXPECT_FALSE(*s->TryLease("rollouts", "hub-b", 1050, 100));  // live
  EXPECT_TRUE(*s->TryLease("rollouts", "hub-a", 1050, 100));   // renewed until 1150
  EXPECT_FALSE(*s->TryLease("rollouts", "hub-b", 1149, 100));
  EXPECT_TRUE(*s->TryLease("other", "hub-b", 1149, 100));     // leases are independent
  EXPECT_TRUE(*s->TryLease("rollouts", "hub-b", 1150, 100));  // expired: taken until 1250
  EXPECT_FALSE(*s->TryLease("rollouts", "hub-a", 1160, 100));
  // Releasing a lease one does not hold does nothing; the holder's release frees it at once.
  EXPECT_TRUE(s->ReleaseLease("rollouts", "hub-a").ok());
  EXPECT_FALSE(*s->TryLease("rollouts", "hub-a", 1161, 100));
  EXPECT_TRUE(s->ReleaseLease("rollouts", "hub-b").ok());
  EXPECT_TRUE(*s->TryLease("rollouts", "hub-a", 1162, 100));
  EXPECT_EQ(s->TryLease("rollouts", "hub-a", 1162, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, EverythingSurvivesAReopen) {
  {
    auto s = Open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Put(DocKind::kDeployment, "add-sub", R"({"v":1})", 0, 5).ok());
    ASSERT_TRUE(s->Put(DocKind::kDeployment, "add-sub", R"({"v":2})", 1, 6).ok());
    ASSERT_EQ(*s->NextSequence("edge-1"), 1);
    ASSERT_EQ(*s->AppendEvent({0, 7, "hub", "started", "r"}), 1);
    ASSERT_TRUE(*s->TryLease("rollouts", "hub-a", 1000, 100000));
  }
  auto s = Open();
  ASSERT_TRUE(s);
  auto got = s->Get(DocKind::kDeployment, "add-sub");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->json, R"({"v":2})");
  EXPECT_EQ((*got)->revision, 2);
  EXPECT_EQ(*s->NextSequence("edge-1"), 2);
  EXPECT_EQ(*s->AppendEvent({0, 8, "hub", "started", "r"}), 2);
  EXPECT_EQ(s->Events(0, 10)->size(), 2u);
  EXPECT_FALSE(*s->TryLease("rollouts", "hub-b", 2000, 100));
  EXPECT_EQ(*s->ChangeCounter(), 2);
}

TEST_P(StoreTest, ANewerSchemaIsRefused) {
  ASSERT_TRUE(Open());
  SetSchemaVersion(99);
  auto s = OpenStore(Url(), options_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("99"), std::string::npos) << s.status().message();
}

TEST_P(StoreTest, BadNamesAndTooLargeDocumentsAreRefused) {
  StoreOptions o = options_;
  o.max_doc_bytes = 1024;
  auto s = Open(o);
  ASSERT_TRUE(s);
  for (const std::string& bad : {std::string(), std::string(257, 'a'), std::string("a b"),
                                 std::string("a\nb"), std::string("a\0b", 3), std::string("\xc3\xa9")}) {
    EXPECT_EQ(s->Put(DocKind::kNode, bad, "{}", 0, 1).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s->Get(DocKind::kNode, bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s->NextSequence(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s->TryLease(bad, "h", 1, 1).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s->AppendEvent({0, 1, bad, "k", ""}).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(s->Put(DocKind::kNode, std::string(256, 'a'), "{}", 0, 1).ok());
  EXPECT_TRUE(s->Put(DocKind::kNode, "big", std::string(1024, ' '), 0, 1).ok());
  const auto too_large = s->Put(DocKind::kNode, "big2", std::string(1025, ' '), 0, 1);
  EXPECT_EQ(too_large.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_NE(too_large.status().message().find("json"), std::string::npos);
  EXPECT_EQ(s->Upsert(DocKind::kNode, "big2", std::string(1025, ' '), 1).status().code(),
            StatusCode::kPayloadTooLarge);
  EXPECT_EQ(s->Put(DocKind::kNode, "nul", std::string("{\0}", 3), 0, 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Put(DocKind::kNode, "utf8", "\"\xff\"", 0, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Put(DocKind::kNode, "neg", "{}", -1, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AppendEvent({0, 1, "hub", "", ""}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AppendEvent({0, 1, std::string(5000, 'k'), "k", ""}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AppendEvent({0, 1, "hub", std::string(5000, 'k'), ""}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(s->AppendEvent({0, 1, "hub", "k", "\xff"}).status().code(), StatusCode::kInvalidArgument);
  // A long reason is cut (at a character boundary), not refused.
  std::string reason = "\xe2\x82\xac" + std::string(5000, 'r');
  reason[4092] = '\xc3';  // an e-acute across the cut at 4093
  reason[4093] = '\xa9';
  ASSERT_TRUE(s->AppendEvent({0, 1, "hub", "long", reason}).ok());
  auto events = s->Events(0, 10, "hub");
  ASSERT_TRUE(events.ok() && events->size() == 1u);
  EXPECT_EQ(events->front().reason, reason.substr(0, 4092) + "...");
  EXPECT_FALSE(s->Get(DocKind::kNode, "big2")->has_value());
  // UTF-8 text round-trips.
  ASSERT_TRUE(s->Put(DocKind::kNode, "utf8", "{\"n\":\"\xc3\xa9\xe2\x82\xac\"}", 0, 1).ok());
  EXPECT_EQ((*s->Get(DocKind::kNode, "utf8"))->json, "{\"n\":\"\xc3\xa9\xe2\x82\xac\"}");
  // The default limit is 16 MiB.
  auto d = Open();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->Put(DocKind::kNode, "huge", std::string((16 << 20) + 1, ' '), 0, 1).status().code(),
            StatusCode::kPayloadTooLarge);
  const std::string mib(1 << 20, 'x');
  ASSERT_TRUE(d->Put(DocKind::kNode, "mib", mib, 0, 1).ok());
  EXPECT_EQ((*d->Get(DocKind::kNode, "mib"))->json, mib);
}

// N threads each add 1 to a counter in one document M times, re-reading after each conflict:
// exactly N*M at the end (no lost update), and the revision counts every write.
void IncrementConcurrently(const std::vector<Store*>& stores, int threads, int per_thread) {
  ASSERT_TRUE(stores[0]->Put(DocKind::kRollout, "counter", "0", 0, 1).ok());
  std::atomic<int> conflicts{0}, errors{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      Store* s = stores[t % stores.size()];
      for (int i = 0; i < per_thread;) {
        auto d = s->Get(DocKind::kRollout, "counter");
        if (!d.ok() || !d->has_value()) {
          ++errors;
          return;
        }
        const int n = std::stoi((*d)->json);
        auto w = s->Put(DocKind::kRollout, "counter", std::to_string(n + 1), (*d)->revision, 2);
        if (w.ok()) {
          ++i;
        } else if (w.status().code() == StatusCode::kAborted) {
          ++conflicts;
        } else {
          ++errors;
          return;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  auto d = stores[0]->Get(DocKind::kRollout, "counter");
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->json, std::to_string(threads * per_thread));
  EXPECT_EQ((*d)->revision, threads * per_thread + 1);
}

TEST_P(StoreTest, ConcurrentWritersLoseNoUpdate) {
  auto s = Open();
  ASSERT_TRUE(s);
  IncrementConcurrently({s.get()}, 4, 25);
}

TEST_P(StoreTest, ConcurrentSequencesAndEventsAreUnique) {
  auto s = Open();
  ASSERT_TRUE(s);
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::vector<int64_t>> seqs(kThreads), ids(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (auto n = s->NextSequence("edge-1"); n.ok()) seqs[t].push_back(*n);
        if (auto id = s->AppendEvent({0, 1, "hub", "k", ""}); id.ok()) ids[t].push_back(*id);
      }
    });
  }
  for (auto& t : ts) t.join();
  std::set<int64_t> all_seqs, all_ids;
  for (int t = 0; t < kThreads; ++t) {
    all_seqs.insert(seqs[t].begin(), seqs[t].end());
    all_ids.insert(ids[t].begin(), ids[t].end());
  }
  EXPECT_EQ(all_seqs.size(), static_cast<size_t>(kThreads) * kEach);
  EXPECT_EQ(*all_seqs.rbegin(), kThreads * kEach);
  EXPECT_EQ(all_ids.size(), static_cast<size_t>(kThreads) * kEach);
}

TEST(SqliteStoreTest, TheFileIsPrivate) {
  const fs::path dir = fs::temp_directory_path() / ("fleet-store-sqlite-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_TRUE(OpenStore("sqlite:" + (dir / "hub.db").string()).ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir / "hub.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(OpenStore("sqlite:" + (dir / "no-such-dir" / "hub.db").string()).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(OpenStore("sqlite:").status().code(), StatusCode::kInvalidArgument);
  auto bare = OpenStore((dir / "bare.db").string());
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ((*bare)->backend(), "sqlite");
  auto memory = OpenStore(":memory:");
  ASSERT_TRUE(memory.ok()) << memory.status().ToString();
  EXPECT_EQ(*(*memory)->Put(DocKind::kNode, "n", "{}", 0, 1), 1);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Two or more hub replicas on one PostgreSQL database.
class PostgresStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { why_ = PgServer::Start(); }
  static void TearDownTestSuite() { PgServer::Stop(); }
  void SetUp() override {
    if (!why_.empty()) GTEST_SKIP() << why_;
    options_.pg_schema = SchemaForTest();
  }
  std::unique_ptr<Store> Open() {
    auto s = OpenStore(PgServer::uri(), options_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static inline std::string why_;
  StoreOptions options_;
};

TEST_F(PostgresStoreTest, ReplicasCreateTheSchemaTogether) {
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      auto s = OpenStore(PgServer::uri(), options_);
      if (s.ok()) {
        ++ok;
      } else {
        ADD_FAILURE() << s.status().ToString();
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 4);
}

TEST_F(PostgresStoreTest, OneReplicaHoldsTheLease) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(*a->TryLease("rollouts", "hub-a", 1000, 100));
  EXPECT_FALSE(*b->TryLease("rollouts", "hub-b", 1000, 100));
  EXPECT_TRUE(*a->TryLease("rollouts", "hub-a", 1090, 100));
  EXPECT_FALSE(*b->TryLease("rollouts", "hub-b", 1189, 100));
  EXPECT_TRUE(*b->TryLease("rollouts", "hub-b", 1190, 100));  // a stopped renewing
  EXPECT_FALSE(*a->TryLease("rollouts", "hub-a", 1191, 100));

  // Racing replicas at one instant: exactly one wins.
  std::atomic<int> winners{0};
  std::vector<std::thread> ts;
  std::vector<std::unique_ptr<Store>> replicas;
  for (int i = 0; i < 4; ++i) replicas.push_back(Open());
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      auto won = replicas[i]->TryLease("race", "hub-" + std::to_string(i), 5000, 1000);
      if (won.ok() && *won) ++winners;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_F(PostgresStoreTest, ReplicasNeverShareASequenceNumber) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  constexpr int kEach = 50;
  std::vector<int64_t> from_a, from_b;
  std::thread ta([&] {
    for (int i = 0; i < kEach; ++i)
      if (auto n = a->NextSequence("edge-1"); n.ok()) from_a.push_back(*n);
  });
  std::thread tb([&] {
    for (int i = 0; i < kEach; ++i)
      if (auto n = b->NextSequence("edge-1"); n.ok()) from_b.push_back(*n);
  });
  ta.join();
  tb.join();
  std::set<int64_t> all(from_a.begin(), from_a.end());
  all.insert(from_b.begin(), from_b.end());
  EXPECT_EQ(all.size(), size_t{2} * kEach);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 2 * kEach);
  // Each replica's own numbers increase.
  EXPECT_TRUE(std::is_sorted(from_a.begin(), from_a.end()));
  EXPECT_TRUE(std::is_sorted(from_b.begin(), from_b.end()));
}

TEST_F(PostgresStoreTest, ReplicasSeeEachOthersWritesAndConflicts) {
  auto a = Open(), b = Open();
  ASSERT_TRUE(a && b);
  const int64_t before = *b->ChangeCounter();
  ASSERT_TRUE(a->Put(DocKind::kDeployment, "d", "1", 0, 1).ok());
  EXPECT_GT(*b->ChangeCounter(), before);
  auto seen = b->Get(DocKind::kDeployment, "d");
  ASSERT_TRUE(seen.ok() && seen->has_value());
  // Both read revision 1; the first write wins, the second is a conflict.
  EXPECT_EQ(*a->Put(DocKind::kDeployment, "d", "2", 1, 2), 2);
  EXPECT_EQ(b->Put(DocKind::kDeployment, "d", "3", (*seen)->revision, 2).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ((*b->Get(DocKind::kDeployment, "d"))->json, "2");
  std::vector<std::unique_ptr<Store>> replicas;
  for (int i = 0; i < 3; ++i) replicas.push_back(Open());
  IncrementConcurrently({replicas[0].get(), replicas[1].get(), replicas[2].get()}, 6, 15);
}

TEST_F(PostgresStoreTest, CallsReconnectAfterAServerRestart) {
  options_.pg_pool_size = 2;
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Put(DocKind::kDeployment, "d", "1", 0, 1).ok());
  ASSERT_EQ(*s->NextSequence("edge-1"), 1);
  PgServer::Restart();
  // The pooled connection died with the server: the call is retried once on a fresh one.
  auto got = s->Get(DocKind::kDeployment, "d");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->json, "1");
  EXPECT_EQ(*s->Put(DocKind::kDeployment, "d", "2", 1, 2), 2);
  EXPECT_EQ(*s->NextSequence("edge-1"), 2);
}

TEST_F(PostgresStoreTest, AnUnreachableServerIsUnavailable) {
  options_.pg_connect_timeout_s = 2;
  auto s =
      OpenStore("postgresql://postgres@127.0.0.1:" + std::to_string(FreePort()) + "/continuum", options_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().ToString();
  options_.pg_schema = "Bad-Schema";
  EXPECT_EQ(OpenStore(PgServer::uri(), options_).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::fleet
