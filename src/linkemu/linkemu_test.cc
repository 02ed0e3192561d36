#include "linkemu/linkemu.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

namespace continuum::linkemu {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A target server on 127.0.0.1: echoes (or, as a sink, counts) what each connection sends.
class TestServer {
 public:
  explicit TestServer(bool echo)
      : echo_(echo), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestServer() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  size_t sink_bytes() {
    std::lock_guard<std::mutex> l(mu_);
    return sink_bytes_;
  }
  Clock::time_point sink_last() {
    std::lock_guard<std::mutex> l(mu_);
    return sink_last_;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::array<char, 65536> buf;
  };
  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
      if (ec) return;
      auto c = std::make_shared<Conn>(io_);
      c->socket = std::move(s);
      c->socket.set_option(tcp::no_delay(true));
      Read(c);
      Accept();
    });
  }
  void Read(std::shared_ptr<Conn> c) {
    c->socket.async_read_some(asio::buffer(c->buf), [this, c](const boost::system::error_code& ec, size_t n) {
      if (ec) {
        boost::system::error_code ignored;
        c->socket.shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      if (!echo_) {
        std::lock_guard<std::mutex> l(mu_);
        sink_bytes_ += n;
        sink_last_ = Clock::now();
        Read(c);
        return;
      }
      asio::async_write(c->socket, asio::buffer(c->buf.data(), n),
                        [this, c](const boost::system::error_code& ec, size_t) {
                          if (!ec) Read(c);
                        });
    });
  }

  bool echo_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  size_t sink_bytes_ = 0;
  Clock::time_point sink_last_{};
};

struct Client {
  asio::io_context io;
  tcp::socket s{io};
  explicit Client(uint16_t port) {
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    s.set_option(tcp::no_delay(true));
  }
  // Waits up to timeout for readable data (or EOF).
  bool Readable(milliseconds timeout) {
    pollfd p{s.native_handle(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }
  void Send(const std::string& m) { asio::write(s, asio::buffer(m)); }
  std::string Recv(size_t n) {
    std::string out(n, '\0');
    asio::read(s, asio::buffer(out));
    return out;
  }
  double PingMs(const std::string& m) {
    Clock::time_point t0 = Clock::now();
    Send(m);
    EXPECT_EQ(Recv(m.size()), m);
    return MsSince(t0);
  }
};

RelayOptions OptionsFor(uint16_t target_port) {
  RelayOptions o;
  o.target_port = target_port;
  return o;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// --- Scenario files ---------------------------------------------------------------------

TEST(ScenarioTest, ParsesAFullScenario) {
  auto sc = ParseScenario(R"({"schema_version":1,"seed":42,"loop":true,"phases":[
      {"name":"good wifi","duration_s":10,"up":{"delay_ms":5,"jitter_ms":1,"bandwidth_kbps":50000,"loss":0},
       "down":{"delay_ms":6,"burst_bytes":4096}},
      {"name":"cut","duration_s":0.5,"partition":true,"partition_mode":"reset"}]})");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  EXPECT_EQ(sc->seed, 42u);
  EXPECT_TRUE(sc->loop);
  ASSERT_EQ(sc->phases.size(), 2u);
  EXPECT_EQ(sc->phases[0].name, "good wifi");
  EXPECT_DOUBLE_EQ(sc->phases[0].up.bandwidth_kbps, 50000);
  EXPECT_DOUBLE_EQ(sc->phases[0].down.delay_ms, 6);
  EXPECT_EQ(sc->phases[0].down.burst_bytes, 4096);
  EXPECT_FALSE(sc->phases[0].partition);
  EXPECT_TRUE(sc->phases[1].partition);
  EXPECT_EQ(sc->phases[1].partition_mode, PartitionMode::kReset);
  EXPECT_DOUBLE_EQ(sc->phases[1].duration_s, 0.5);
}

TEST(ScenarioTest, ExampleScenarioLoads) {
  auto sc = LoadScenario(std::string(CONTINUUM_SOURCE_DIR) + "/bench/routing/scenarios/shifting.json");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  EXPECT_GE(sc->phases.size(), 4u);
}

TEST(ScenarioTest, MalformedScenariosNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "not valid JSON"},
      {"[]", "(root)"},
      {R"({"phases":[{"name":"a","duration_s":1}]})", "schema_version"},
      {R"({"schema_version":2,"phases":[{"name":"a","duration_s":1}]})", "schema_version"},
      {R"({"schema_version":1,"seed":-1,"phases":[{"name":"a","duration_s":1}]})", "seed"},
      {R"({"schema_version":1})", "phases"},
      {R"({"schema_version":1,"phases":[]})", "phases"},
      {R"({"schema_version":1,"phases":{}})", "phases"},
      {R"({"schema_version":1,"phases":[{"duration_s":1}]})", "phases[0].name"},
      {R"({"schema_version":1,"phases":[{"name":"a"}]})", "phases[0].duration_s"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":0}]})", "phases[0].duration_s"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1},{"name":"b","duration_s":1,"up":{"loss":1.5}}]})",
       "phases[1].up.loss"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1,"down":{"delay_ms":-3}}]})",
       "phases[0].down.delay_ms"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1,"down":{"jitter_ms":"x"}}]})",
       "phases[0].down.jitter_ms"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1,"up":{"delay":3}}]})",
       "phases[0].up.delay"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1,"partition":"yes"}]})",
       "phases[0].partition"},
      {R"({"schema_version":1,"phases":[{"name":"a","duration_s":1,"partition_mode":"drop"}]})",
       "phases[0].partition_mode"},
      {R"({"schema_version":1,"loop":1,"phases":[{"name":"a","duration_s":1}]})", "loop"},
      {R"({"schema_version":1,"sed":1,"phases":[{"name":"a","duration_s":1}]})", "sed"},
  };
  for (const auto& [json, field] : cases) {
    auto sc = ParseScenario(json);
    ASSERT_FALSE(sc.ok()) << json;
    EXPECT_EQ(sc.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(sc.status().message().find(field), std::string::npos)
        << json << " -> " << sc.status().message();
  }
  EXPECT_EQ(LoadScenario("/nonexistent/x.json").status().code(), StatusCode::kNotFound);
}

// --- The timing model -------------------------------------------------------------------

std::vector<Clock::duration> Jitters(uint64_t seed) {
  LinkModel m(seed);
  LinkProfile p;
  p.delay_ms = 20;
  p.jitter_ms = 5;
  p.loss = 0.1;
  Clock::time_point t0{};
  m.SetProfile(p, t0);
  std::vector<Clock::duration> out;
  for (int i = 0; i < 200; ++i) {
    auto d = m.Schedule(t0 + milliseconds(i), 100);
    out.push_back(d.jitter + (d.lost ? milliseconds(100000) : milliseconds(0)));
    EXPECT_LE(std::chrono::abs(d.jitter), milliseconds(5));
  }
  return out;
}

TEST(LinkModelTest, SameSeedSameJitterSequence) {
  EXPECT_EQ(Jitters(42), Jitters(42));
  EXPECT_NE(Jitters(42), Jitters(43));
}

TEST(LinkModelTest, TokenBucketPacesAtTheRate) {
  LinkModel m(1);
  LinkProfile p;
  p.bandwidth_kbps = 8000;  // 1,000,000 bytes/s
  p.burst_bytes = 10000;
  Clock::time_point t0{};
  m.SetProfile(p, t0);
  Clock::time_point last;
  for (int i = 0; i < 100; ++i) last = m.Schedule(t0, 10000).release;
  // 1,000,000 bytes, the first 10,000 from the burst: 0.99 s.
  EXPECT_NEAR(std::chrono::duration<double>(last - t0).count(), 0.99, 1e-6);
  // After a long idle time the bucket holds a burst again, not more.
  auto d = m.Schedule(t0 + std::chrono::seconds(10), 10000);
  EXPECT_EQ(d.release, t0 + std::chrono::seconds(10));
  EXPECT_GT(m.Schedule(t0 + std::chrono::seconds(10), 1000).release, t0 + std::chrono::seconds(10));
}

TEST(LinkModelTest, LossHoldsAChunkBackOneRto) {
  LinkModel m(7);
  LinkProfile p;
  p.delay_ms = 10;
  p.loss = 1;
  m.SetProfile(p, Clock::time_point{});
  m.SetRto(milliseconds(300));
  auto d = m.Schedule(Clock::time_point{}, 10);
  EXPECT_TRUE(d.lost);
  EXPECT_EQ(d.release, Clock::time_point{} + milliseconds(310));
}

// --- The relay ----------------------------------------------------------------------------

// A relay in front of the server on `target_port`, started with the given link profiles;
// nullptr (and a test failure) when it does not start.
std::unique_ptr<Relay> StartRelay(uint16_t target_port, const LinkProfile& up = {},
                                  const LinkProfile& down = {}) {
  auto relay = std::make_unique<Relay>(OptionsFor(target_port));
  relay->SetProfile(up, down);
  const Status st = relay->Start();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return st.ok() ? std::move(relay) : nullptr;
}

TEST(RelayTest, RoundTripMatchesTheConfiguredDelay) {
  TestServer echo(true);
  auto relay = StartRelay(echo.port(), {.delay_ms = 40}, {.delay_ms = 40});
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  std::vector<double> rtts;
  for (int i = 0; i < 21; ++i) rtts.push_back(c.PingMs("ping " + std::to_string(i)));
  const double median = Median(rtts);
  std::printf("[linkemu] configured RTT 80 ms, median measured %.2f ms (%.2f%% off)\n", median,
              (median - 80.0) / 80.0 * 100.0);
  EXPECT_NEAR(median, 80.0, 8.0);
  EXPECT_GE(*std::min_element(rtts.begin(), rtts.end()), 79.0);
}

TEST(RelayTest, ThroughputMatchesTheConfiguredBandwidth) {
  TestServer sink(false);
  auto relay = StartRelay(sink.port(), {.bandwidth_kbps = 8000 /* 1 MB/s */, .burst_bytes = 16384});
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  const size_t total = 2'000'000;
  std::string data(total, 'x');
  const Clock::time_point t0 = Clock::now();
  c.Send(data);
  for (int i = 0; i < 1000 && sink.sink_bytes() < total; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(sink.sink_bytes(), total);
  const double seconds = std::chrono::duration<double>(sink.sink_last() - t0).count();
  const double kbps = (total - 16384) * 8.0 / 1000.0 / seconds;
  std::printf("[linkemu] configured 8000 kbit/s, measured %.1f kbit/s (%.2f%% off) over %zu bytes\n", kbps,
              (kbps - 8000.0) / 8000.0 * 100.0, total);
  EXPECT_NEAR(kbps, 8000.0, 800.0);
  EXPECT_EQ(relay->stats().bytes_up, total);
}

TEST(RelayTest, JitterNeverReordersBytes) {
  TestServer echo(true);
  const LinkProfile p{.delay_ms = 5, .jitter_ms = 5};
  auto relay = StartRelay(echo.port(), p, p);
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  std::string sent;
  for (int i = 0; i < 300; ++i) sent += "<" + std::to_string(i) + ">";
  std::thread writer([&] {
    for (size_t off = 0; off < sent.size(); off += 7) {
      c.Send(sent.substr(off, 7));
      std::this_thread::sleep_for(std::chrono::microseconds(500));  // small writes spread over the jitter
    }
  });
  std::string got = c.Recv(sent.size());
  writer.join();
  EXPECT_EQ(got, sent);
}

TEST(RelayTest, LossCostsARetransmissionTimeout) {
  TestServer echo(true);
  auto relay = StartRelay(echo.port(), {.delay_ms = 10, .loss = 1});
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  const double rtt = c.PingMs("hello");
  EXPECT_GE(rtt, 209.0);  // 10 ms + RTO max(200 ms, 2 x 10 ms)
  EXPECT_LT(rtt, 600.0);
  EXPECT_GE(relay->stats().chunks_lost, 1u);
}

TEST(RelayTest, PartitionStallsAndRecoveryResumes) {
  TestServer echo(true);
  const LinkProfile p{.delay_ms = 10};
  auto relay = StartRelay(echo.port(), p, p);
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  EXPECT_LT(c.PingMs("before"), 500.0);

  relay->SetPartition(true);
  c.Send("during");
  Client fresh(relay->port());  // accepted, but stalls
  fresh.Send("fresh");
  EXPECT_FALSE(c.Readable(milliseconds(300)));
  EXPECT_FALSE(fresh.Readable(milliseconds(1)));

  const Clock::time_point t0 = Clock::now();
  relay->SetPartition(false);
  EXPECT_EQ(c.Recv(6), "during");
  EXPECT_EQ(fresh.Recv(5), "fresh");
  const double resumed = MsSince(t0);
  EXPECT_GE(resumed, 19.0);  // one delay each way after recovery
  EXPECT_LT(resumed, 1000.0);
  EXPECT_LT(c.PingMs("after"), 500.0);
}

TEST(RelayTest, ResetPartitionClosesConnections) {
  TestServer echo(true);
  auto relay = StartRelay(echo.port());
  ASSERT_NE(relay, nullptr);
  Client c(relay->port());
  EXPECT_EQ(c.PingMs("x") >= 0, true);
  relay->SetPartition(true, PartitionMode::kReset);
  ASSERT_TRUE(c.Readable(milliseconds(2000)));
  char b;
  boost::system::error_code ec;
  EXPECT_EQ(c.s.read_some(asio::buffer(&b, 1), ec), 0u);
  EXPECT_TRUE(ec);
  Client fresh(relay->port());
  ASSERT_TRUE(fresh.Readable(milliseconds(2000)));
  EXPECT_EQ(fresh.s.read_some(asio::buffer(&b, 1), ec), 0u);
  EXPECT_TRUE(ec);
  relay->SetPartition(false);
  Client after(relay->port());
  EXPECT_LT(after.PingMs("back"), 500.0);
}

TEST(RelayTest, ScenarioSwitchesPhasesByTime) {
  TestServer echo(true);
  auto relay = StartRelay(echo.port());
  ASSERT_NE(relay, nullptr);
  auto sc = ParseScenario(R"({"schema_version":1,"seed":3,"phases":[
      {"name":"fast","duration_s":0.2},
      {"name":"cut","duration_s":0.3,"partition":true},
      {"name":"slow","duration_s":0.2,"up":{"delay_ms":30},"down":{"delay_ms":30}}]})");
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  std::mutex mu;
  std::vector<std::pair<size_t, double>> seen;
  Client c(relay->port());
  const Clock::time_point t0 = Clock::now();
  relay->PlayScenario(*sc, [&](size_t i, const Phase&) {
    std::lock_guard<std::mutex> l(mu);
    seen.emplace_back(i, MsSince(t0));
  });
  EXPECT_LT(c.PingMs("fast"), 100.0);
  std::this_thread::sleep_until(t0 + milliseconds(250));  // into the partition phase (the scenario is timed)
  // Sent during the partition: answered only once "slow" starts at 500 ms, after 2 x 30 ms.
  c.Send("cut");
  EXPECT_EQ(c.Recv(3), "cut");
  EXPECT_GE(MsSince(t0), 555.0);
  // Waits until the last phase has started.
  auto phases_seen = [&] {
    std::lock_guard<std::mutex> l(mu);
    return seen.size();
  };
  for (const auto give_up = Clock::now() + std::chrono::seconds(10);
       phases_seen() < 4 && Clock::now() < give_up;)
    std::this_thread::sleep_for(milliseconds(5));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(seen.size(), 4u);
  const double expected[] = {0, 200, 500, 700};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seen[i].first, i);
    EXPECT_GE(seen[i].second, expected[i] - 2.0) << i;
    EXPECT_LE(seen[i].second, expected[i] + 100.0) << i;
  }
}

}  // namespace
}  // namespace continuum::linkemu
