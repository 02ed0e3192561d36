#include "router/decision_log.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace continuum::router {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

DecisionRecord Sample(int i) {
  DecisionRecord r;
  r.request_id = "r-" + std::to_string(i);
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'763'923'200'123 + i));
  r.model = "m";
  r.version = 1;
  r.policy.residency = "eu";
  r.policy.hedge = true;
  Candidate a;
  a.node = "edge-paris";
  a.predicted_ms = 12.5;
  a.cost = 0.0001;
  a.energy_j = 0.4;
  Candidate b = a;
  b.node = "cloud-eu";
  b.predicted_ms = 31;
  r.candidates = {a, b};
  r.choice = i % 3 ? "edge-paris" : "cloud-eu";
  r.fallback_step = i % 3 ? 0 : 1;
  r.outcome = "ok";
  return r;
}

TEST(DecisionLog, Sha256) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DecisionLog, RecordFormat) {
  std::string line = DecisionRecordToJson(Sample(1), DecisionLog::kGenesisHash);
  EXPECT_EQ(line, R"({"request_id":"r-1","time":"2025-11-23T18:40:00.124Z","model":"m","version":1,)"
                  R"("policy":{"residency":"eu","hedge":true},)"
                  R"("candidates":[{"node":"edge-paris","predicted_ms":12.5,"cost":1e-04,"energy":0.4},)"
                  R"({"node":"cloud-eu","predicted_ms":31,"cost":1e-04,"energy":0.4}],)"
                  R"("choice":"edge-paris","fallback_step":0,"outcome":"ok",)"
                  R"("prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"})");
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(line).get(e), simdjson::SUCCESS);
}

TEST(DecisionLog, ChainVerifiesAndTamperingIsFound) {
  DecisionLog log;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Append(Sample(i)).ok());
  std::string text = log.contents();
  ASSERT_TRUE(VerifyDecisionLog(text).ok()) << VerifyDecisionLog(text).ToString();
  EXPECT_TRUE(VerifyDecisionLog("").ok());
  auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(log.last_hash(), Sha256Hex(lines[9]));

  // An edited line breaks the link of the next one.
  auto edited = lines;
  edited[3].replace(edited[3].find("edge-paris"), 10, "cloud-usa!");
  Status s = VerifyDecisionLog(Join(edited));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("decision log line 5: prev_hash does not match SHA-256 of line 4"),
            std::string::npos)
      << s.message();
  // A removed line.
  auto removed = lines;
  removed.erase(removed.begin() + 6);
  s = VerifyDecisionLog(Join(removed));
  EXPECT_NE(s.message().find("line 7:"), std::string::npos) << s.message();
  // A removed first line.
  auto head = lines;
  head.erase(head.begin());
  s = VerifyDecisionLog(Join(head));
  EXPECT_NE(s.message().find("line 1: prev_hash is not the genesis hash"), std::string::npos) << s.message();
  // Garbage, a missing prev_hash, a truncated last line.
  auto garbage = lines;
  garbage[2] = "not json";
  EXPECT_NE(VerifyDecisionLog(Join(garbage)).message().find("line 3: not valid JSON"), std::string::npos);
  auto nohash = lines;
  nohash[0] = R"({"request_id":"x"})";
  EXPECT_NE(VerifyDecisionLog(Join(nohash)).message().find("line 1: prev_hash missing"), std::string::npos);
  std::string truncated = text.substr(0, text.size() - 5);
  EXPECT_NE(VerifyDecisionLog(truncated).message().find("line 10: incomplete"), std::string::npos);
  // Reordered lines.
  auto swapped = lines;
  std::swap(swapped[1], swapped[2]);
  EXPECT_NE(VerifyDecisionLog(Join(swapped)).message().find("line 2:"), std::string::npos);
}

TEST(DecisionLog, FileAppendsAcrossReopen) {
  auto dir = std::filesystem::temp_directory_path() / ("router_log_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "decisions.jsonl").string();
  {
    auto log = DecisionLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Sample(i)).ok());
  }
  {
    auto log = DecisionLog::Open(path);  // continues the chain
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 3; i < 5; ++i) ASSERT_TRUE((*log)->Append(Sample(i)).ok());
  }
  EXPECT_TRUE(VerifyDecisionLogFile(path).ok()) << VerifyDecisionLogFile(path).ToString();
  {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(Lines(text).size(), 5u);
    auto lines = Lines(text);
    lines[1][lines[1].find("r-1")] = 'x';
    std::ofstream out(path, std::ios::trunc);
    out << Join(lines);
  }
  Status s = VerifyDecisionLogFile(path);
  EXPECT_NE(s.message().find("line 3"), std::string::npos) << s.message();
  auto reopened = DecisionLog::Open(path);  // refuses to extend a broken chain
  EXPECT_FALSE(reopened.ok());
  EXPECT_EQ(VerifyDecisionLogFile((dir / "none").string()).code(), StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(DecisionLog, FromDecision) {
  auto t = ParseTopology(R"({"schema_version":1,"nodes":[
    {"name":"a","url":"u","tier":"edge","jurisdiction":["eu"],"models":[{"name":"m","versions":[1]}]}]})");
  ASSERT_TRUE(t.ok());
  Router r(*t);
  Request q;
  q.model = "m";
  q.policy.residency = "eu";
  auto d = r.Decide(q);
  ASSERT_TRUE(d.ok());
  DecisionRecord rec = RecordFromDecision("req-9", r.Now(), q, *d);
  rec.outcome = "ok";
  EXPECT_EQ(rec.choice, "a");
  EXPECT_EQ(rec.candidates.size(), 1u);
  DecisionLog log;
  ASSERT_TRUE(log.Append(rec).ok());
  EXPECT_NE(log.contents().find(R"("request_id":"req-9")"), std::string::npos);
  EXPECT_NE(log.contents().find(R"("policy":{"residency":"eu"})"), std::string::npos);
}

}  // namespace
}  // namespace continuum::router
