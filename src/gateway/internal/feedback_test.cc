#include "gateway/internal/feedback.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace continuum::gateway::internal {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = TimePoint(std::chrono::seconds(1'000'000));

std::string Ms(TimePoint t) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - kT0).count());
}

// Records every report as one line; the clock and the estimates are set by the test.
class FakeReports : public NodeReports {
 public:
  TimePoint Now() const override { return now; }
  void ReportQueueDepth(std::string_view node, double depth) override {
    log.push_back("depth " + std::string(node) + " " + Num(depth));
  }
  void ReportOutstanding(std::string_view node, std::optional<TimePoint> due, double work_ms) override {
    log.push_back("outstanding " + std::string(node) + " due " + (due ? Ms(*due) : "none") + " work " +
                  Num(work_ms));
  }
  void ReportSuccess(std::string_view node) override { log.push_back("success " + std::string(node)); }
  void ReportFailure(std::string_view node) override { log.push_back("failure " + std::string(node)); }
  void ObserveCompute(std::string_view node, std::string_view model, double ms) override {
    log.push_back("compute " + std::string(node) + " " + std::string(model) + " " + Num(ms));
  }
  void ObserveTransfer(std::string_view node, uint64_t bytes, double ms, bool explored) override {
    log.push_back("transfer " + std::string(node) + " " + std::to_string(bytes) + " " + Num(ms) +
                  (explored ? " explored" : ""));
  }
  void ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms) override {
    log.push_back("answer " + std::string(node) + " " + Num(elapsed_ms) + " " + Num(p95_ms));
  }
  double EstimatedRttMs(std::string_view) const override { return rtt_ms; }
  double EstimatedBandwidthMbps(std::string_view) const override { return bandwidth_mbps; }

  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  std::vector<std::string> Take() { return std::exchange(log, {}); }

  TimePoint now = kT0;
  double rtt_ms = 0, bandwidth_mbps = 0;
  std::vector<std::string> log;
};

using Lines = std::vector<std::string>;

TEST(InFlightTest, ReportsDepthEarliestDueAndWorkAsCopiesStartAndEnd) {
  FakeReports r;
  InFlight f(&r);
  f.Sent({"a", kT0 + 300ms, 10});
  f.Sent({"a", kT0 + 100ms, 5});
  f.Sent({"b", kT0 + 50ms, 1});
  EXPECT_EQ(r.Take(), (Lines{"depth a 1", "outstanding a due 300 work 10", "depth a 2",
                             "outstanding a due 100 work 15", "depth b 1", "outstanding b due 50 work 1"}));
  f.Ended({"a", kT0 + 100ms, 5});
  f.Ended({"a", kT0 + 300ms, 10});
  f.Ended({"a", kT0 + 300ms, 10});  // ended twice: nothing left to take off, no drift
  EXPECT_EQ(r.Take(), (Lines{"depth a 1", "outstanding a due 300 work 10", "depth a 0",
                             "outstanding a due none work 0", "depth a 0", "outstanding a due none work 0"}));
  // An idle node has no work outstanding, whatever was added and taken off (no drift).
  f.Sent({"c", kT0, 0.1});
  f.Sent({"c", kT0, 0.2});
  f.Ended({"c", kT0, 0.1});
  f.Ended({"c", kT0, 0.1});
  EXPECT_EQ(r.Take().back(), "outstanding c due none work 0");
}

http::ClientResponse Answer(int status, double duration_ms,
                            std::vector<std::pair<std::string, std::string>> headers) {
  http::ClientResponse a;
  a.status = status;
  a.duration_ms = duration_ms;
  a.headers = std::move(headers);
  return a;
}

TEST(LearnFromAnswerTest, TheEngineRunIsComputeAndTheRestOfTheTimeOnTheNodeIsNotTransfer) {
  FakeReports r;
  LearnFromAnswer(
      r, "n", "m",
      Answer(
          200, 50,
          {{"x-continuum-run-ms", "8"}, {"x-continuum-compute-ms", "20"}, {"x-continuum-queue-depth", "3"}}),
      1000, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "depth n 3", "compute n m 8", "transfer n 1000 30"}));
  // The time on the node is at least the run and at most the exchange.
  LearnFromAnswer(r, "n", "m",
                  Answer(200, 50, {{"x-continuum-run-ms", "8"}, {"x-continuum-compute-ms", "90"}}), 10, true);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 8", "transfer n 10 0 explored"}));
  LearnFromAnswer(r, "n", "m",
                  Answer(200, 50, {{"x-continuum-run-ms", "8"}, {"x-continuum-compute-ms", "5"}}), 10, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 8", "transfer n 10 42"}));
  LearnFromAnswer(r, "n", "m", Answer(200, 50, {{"x-continuum-run-ms", "80"}}), 10, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 50", "transfer n 10 0"}));
}

TEST(LearnFromAnswerTest, TimeOnTheNodeElseTheExchangeLessRttAndTransferAtTheEstimates) {
  FakeReports r;
  LearnFromAnswer(r, "n", "m", Answer(200, 50, {{"x-continuum-compute-ms", "20"}}), 10, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 20", "transfer n 10 30"}));
  r.rtt_ms = 10;
  r.bandwidth_mbps = 8;  // 1e6 bytes: 1000 ms
  LearnFromAnswer(r, "n", "m", Answer(200, 1500, {}), 1'000'000, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 490", "transfer n 1000000 1010"}));
  r.bandwidth_mbps = 0;  // no estimate: no transfer taken off
  LearnFromAnswer(r, "n", "m", Answer(200, 5, {}), 1'000'000, false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 0", "transfer n 1000000 5"}));
}

TEST(LearnFromAnswerTest, ARefusalSaysNothingOfSpeedAndBadNumbersAreIgnored) {
  FakeReports r;
  LearnFromAnswer(r, "n", "m",
                  Answer(404, 50, {{"x-continuum-queue-depth", "2"}, {"x-continuum-run-ms", "1"}}), 10,
                  false);
  EXPECT_EQ(r.Take(), (Lines{"success n", "depth n 2"}));
  for (const char* bad : {"-1", "nan", "inf", "12x", ""}) {
    LearnFromAnswer(
        r, "n", "m",
        Answer(
            200, 50,
            {{"x-continuum-queue-depth", bad}, {"x-continuum-run-ms", bad}, {"x-continuum-compute-ms", bad}}),
        0, false);
    EXPECT_EQ(r.Take(), (Lines{"success n", "compute n m 50", "transfer n 0 0"})) << bad;
  }
}

router::Decision TwoCandidates() {
  router::Decision d;
  d.choice = "a";
  d.fallbacks = {"b"};
  router::Candidate a, b;
  a.node = "a";
  a.p95_ms = 40;
  a.compute_ms = 7;
  b.node = "b";
  b.p95_ms = 90;
  b.compute_ms = 3;
  d.candidates = {a, b};
  return d;
}

TEST(FeedbackHooksTest, EachSentCopyEndsOnceAndAnAnswerIsLearnedFrom) {
  FakeReports r;
  InFlight f(&r);
  DispatchHooks h = FeedbackHooks(&r, &f, TwoCandidates(), "m");
  EXPECT_FALSE(h.hedge_target);
  EXPECT_FALSE(h.on_loser_answer);  // no exploration copy: a loser's answer is not learned from
  r.now = kT0 + 5ms;
  h.on_send("a");  // due at its predicted p95, its compute outstanding
  EXPECT_EQ(r.Take(), (Lines{"depth a 1", "outstanding a due 45 work 7"}));
  h.on_failure("a");
  EXPECT_EQ(r.Take(), (Lines{"depth a 0", "outstanding a due none work 0", "failure a"}));
  h.on_send("b");
  h.on_send("unplanned");  // not a candidate: due now, no work
  EXPECT_EQ(r.Take(), (Lines{"depth b 1", "outstanding b due 95 work 3", "depth unplanned 1",
                             "outstanding unplanned due 5 work 0"}));
  h.on_cancel("unplanned");
  h.on_success("b", Answer(200, 20, {{"x-continuum-run-ms", "2"}, {"x-continuum-queue-depth", "4"}}), 64);
  EXPECT_EQ(r.Take(), (Lines{"depth unplanned 0", "outstanding unplanned due none work 0", "depth b 0",
                             "outstanding b due none work 0", "success b", "depth b 4", "compute b m 2",
                             "transfer b 64 18"}));
  h.on_cancel("b");  // already ended: nothing more
  EXPECT_TRUE(r.Take().empty());
}

TEST(FeedbackHooksTest, OnlyTheExplorationCopyIsLearnedFromWhenItLoses) {
  FakeReports r;
  InFlight f(&r);
  router::Decision d = TwoCandidates();
  d.hedge = router::Hedge{.node = "b", .delay_ms = 0, .explore = true};
  DispatchHooks h = FeedbackHooks(&r, &f, d, "m");
  ASSERT_TRUE(h.on_loser_answer);
  h.on_loser_answer("a", Answer(200, 20, {}), 64);
  EXPECT_TRUE(r.Take().empty());
  h.on_loser_answer("b", Answer(200, 20, {{"x-continuum-run-ms", "5"}}), 64);
  EXPECT_EQ(r.Take(), (Lines{"success b", "compute b m 5", "transfer b 64 15 explored"}));
  h.on_send("b");
  r.Take();
  h.on_success("b", Answer(200, 20, {{"x-continuum-run-ms", "5"}}), 64);  // the winner, explored
  EXPECT_EQ(r.Take(), (Lines{"depth b 0", "outstanding b due none work 0", "success b", "compute b m 5",
                             "transfer b 64 15 explored"}));
}

}  // namespace
}  // namespace continuum::gateway::internal
