// The TCP relay and the per-direction timing model. One io_context thread does all the work.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "common/log.h"
#include "linkemu/linkemu.h"

namespace continuum::linkemu {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

Clock::duration Ms(double ms) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

constexpr uint64_t kUpSalt = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kDownSalt = 0xC2B2AE3D27D4EB4Full;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Prng / LinkModel

uint64_t Prng::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Prng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

LinkModel::LinkModel(uint64_t seed) : prng_(seed) {}

void LinkModel::SetProfile(const LinkProfile& profile, Clock::time_point now) {
  bool rate_was_zero = profile_.BytesPerSecond() <= 0;
  profile_ = profile;
  if (profile_.BytesPerSecond() <= 0 || rate_was_zero) bucket_started_ = false;
}

LinkModel::Decision LinkModel::Schedule(Clock::time_point now, size_t bytes) {
  Decision d;
  Clock::time_point departure = now;
  const double rate = profile_.BytesPerSecond();
  if (rate > 0) {
    const double burst = profile_.burst_bytes > 0 ? static_cast<double>(profile_.burst_bytes)
                                                  : std::max(16384.0, rate * 0.010);
    if (!bucket_started_) {
      tokens_ = burst;
      last_refill_ = now;
      bucket_started_ = true;
    }
    const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
    if (elapsed > 0) {
      tokens_ = std::min(burst, tokens_ + elapsed * rate);
      last_refill_ = now;
    }
    tokens_ = std::min(tokens_, burst);
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ < 0) departure += Ms(-tokens_ / rate * 1000.0);
  }
  double delay_ms = profile_.delay_ms;
  if (profile_.jitter_ms > 0) {
    const double j = (2.0 * prng_.Uniform() - 1.0) * profile_.jitter_ms;
    d.jitter = Ms(j);
    delay_ms += j;
  }
  d.release = departure + Ms(std::max(0.0, delay_ms));
  if (profile_.loss > 0 && prng_.Uniform() < profile_.loss) {
    d.lost = true;
    d.release += rto_;
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Relay

struct Relay::Impl {
  struct Connection;

  explicit Impl(RelayOptions o)
      : options(std::move(o)),
        acceptor(io),
        up_link(options.seed ^ kUpSalt),
        down_link(options.seed ^ kDownSalt),
        scenario_timer(io) {}

  RelayOptions options;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::atomic<bool> running{false};
  std::atomic<uint16_t> bound_port{0};
  tcp::acceptor acceptor;
  tcp::endpoint target;

  LinkModel up_link, down_link;
  bool partitioned = false;
  PartitionMode partition_mode = PartitionMode::kStall;
  std::set<std::shared_ptr<Connection>> connections;

  asio::steady_timer scenario_timer;
  uint64_t scenario_generation = 0;
  Scenario scenario;
  PhaseCallback on_phase;

  std::atomic<uint64_t> accepted{0}, open{0}, bytes_up{0}, bytes_down{0}, lost{0};

  // Runs f on the I/O thread and waits for it (or runs it here when that is safe).
  template <typename F>
  void RunSync(F&& f) {
    if (!running.load() || io.get_executor().running_in_this_thread()) {
      f();
      return;
    }
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(io, [&] {
      f();
      done.set_value();
    });
    fut.wait();
  }

  void DoAccept();
  void ApplyProfile(const LinkProfile& up, const LinkProfile& down);
  void ApplyPartition(bool on, PartitionMode mode);
  void StartPhase(size_t index, Clock::time_point start, uint64_t generation);
  void CloseAll(bool reset);
};

// One direction of one connection.
struct Pipe {
  struct Chunk {
    std::vector<char> data;
    Clock::time_point release;
  };
  Pipe(asio::io_context& io, tcp::socket& from, tcp::socket& to, LinkModel& link,
       std::atomic<uint64_t>& counter)
      : from(from), to(to), link(link), delivered(counter), timer(io) {}

  tcp::socket& from;
  tcp::socket& to;
  LinkModel& link;
  std::atomic<uint64_t>& delivered;
  asio::steady_timer timer;
  std::optional<Clock::time_point> timer_for;
  std::vector<char> read_buf;
  std::deque<Chunk> pending;   // read during a partition, not yet on the link
  std::deque<Chunk> inflight;  // on the link, with release times in FIFO order
  size_t queued_bytes = 0;
  Clock::time_point last_release{};
  bool reading = false, writing = false, read_eof = false, write_shut = false;
};

struct Relay::Impl::Connection : std::enable_shared_from_this<Connection> {
  Connection(Impl& relay, tcp::socket client_socket)
      : relay(relay),
        client(std::move(client_socket)),
        server(relay.io),
        up(relay.io, client, server, relay.up_link, relay.bytes_up),
        down(relay.io, server, client, relay.down_link, relay.bytes_down) {}

  Impl& relay;
  tcp::socket client;
  tcp::socket server;
  Pipe up, down;
  bool connected = false;
  bool closed = false;

  void Start() {
    auto self = shared_from_this();
    server.async_connect(relay.target, [self](const error_code& ec) {
      if (self->closed) return;
      if (ec) {
        LogWarning("linkemu: cannot connect to the target: " + ec.message());
        self->Close(true);
        return;
      }
      error_code ignored;
      self->client.set_option(tcp::no_delay(true), ignored);
      self->server.set_option(tcp::no_delay(true), ignored);
      self->connected = true;
      self->Read(self->up);
      self->Read(self->down);
    });
  }

  void Read(Pipe& p) {
    if (closed || !connected || p.reading || p.read_eof ||
        p.queued_bytes >= relay.options.max_in_flight_bytes)
      return;
    p.reading = true;
    p.read_buf.resize(relay.options.read_chunk_bytes);
    auto self = shared_from_this();
    p.from.async_read_some(asio::buffer(p.read_buf), [self, &p](const error_code& ec, size_t n) {
      p.reading = false;
      if (self->closed) return;
      if (n > 0) {
        Pipe::Chunk c{
            std::vector<char>(p.read_buf.begin(), p.read_buf.begin() + static_cast<std::ptrdiff_t>(n)), {}};
        p.queued_bytes += n;
        if (self->relay.partitioned) {
          p.pending.push_back(std::move(c));
        } else {
          self->Admit(p, std::move(c), Clock::now());
        }
      }
      if (ec) {
        if (ec != asio::error::eof) {
          self->Close(true);
          return;
        }
        p.read_eof = true;
      }
      self->Pump(p);
      self->Read(p);
    });
  }

  void Admit(Pipe& p, Pipe::Chunk c, Clock::time_point now) {
    LinkModel::Decision d = p.link.Schedule(now, c.data.size());
    if (d.lost) relay.lost.fetch_add(1);
    c.release = std::max(d.release, p.last_release);
    p.last_release = c.release;
    p.inflight.push_back(std::move(c));
  }

  // Called when a partition ends at `now`.
  void Recover(Pipe& p, Clock::time_point now) {
    const Clock::time_point earliest = now + Ms(p.link.profile().delay_ms);
    for (auto& c : p.inflight) c.release = std::max(c.release, earliest);
    if (!p.inflight.empty()) p.last_release = std::max(p.last_release, p.inflight.back().release);
    while (!p.pending.empty()) {
      Admit(p, std::move(p.pending.front()), now);
      p.pending.pop_front();
    }
    Pump(p);
  }

  void Pump(Pipe& p) {
    if (closed || !connected || p.writing || relay.partitioned) return;
    if (p.inflight.empty()) {
      if (p.read_eof && p.pending.empty() && !p.write_shut) {
        error_code ignored;
        p.to.shutdown(tcp::socket::shutdown_send, ignored);
        p.write_shut = true;
        if (up.write_shut && down.write_shut) Close(false);
      }
      return;
    }
    const Clock::time_point now = Clock::now();
    const Clock::time_point head = p.inflight.front().release;
    if (head > now) {
      if (p.timer_for && *p.timer_for <= head) return;  // a wait that early is pending already
      p.timer_for = head;
      p.timer.expires_at(head);
      auto self = shared_from_this();
      p.timer.async_wait([self, &p](const error_code& ec) {
        if (ec == asio::error::operation_aborted) return;
        p.timer_for.reset();
        self->Pump(p);
      });
      return;
    }
    size_t count = 0, bytes = 0;
    std::vector<asio::const_buffer> buffers;
    for (const auto& c : p.inflight) {
      if (c.release > now || count >= 64) break;
      buffers.emplace_back(asio::buffer(c.data));
      bytes += c.data.size();
      ++count;
    }
    p.writing = true;
    auto self = shared_from_this();
    asio::async_write(p.to, buffers, [self, &p, count, bytes](const error_code& ec, size_t) {
      p.writing = false;
      if (self->closed) return;
      if (ec) {
        self->Close(true);
        return;
      }
      for (size_t i = 0; i < count; ++i) p.inflight.pop_front();
      p.queued_bytes -= bytes;
      p.delivered.fetch_add(bytes);
      self->Read(p);
      self->Pump(p);
    });
  }

  void Close(bool reset) {
    if (closed) return;
    closed = true;
    error_code ignored;
    for (tcp::socket* s : {&client, &server}) {
      if (reset && s->is_open()) s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
    up.timer.cancel();
    down.timer.cancel();
    relay.open.fetch_sub(1);
    relay.connections.erase(shared_from_this());
  }
};

void Relay::Impl::DoAccept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      accepted.fetch_add(1);
      open.fetch_add(1);
      auto conn = std::make_shared<Connection>(*this, std::move(socket));
      connections.insert(conn);
      if (partitioned && partition_mode == PartitionMode::kReset) {
        conn->Close(true);
      } else {
        conn->Start();
      }
    } else {
      LogWarning("linkemu: accept failed: " + ec.message());
    }
    DoAccept();
  });
}

void Relay::Impl::ApplyProfile(const LinkProfile& up, const LinkProfile& down) {
  const Clock::time_point now = Clock::now();
  up_link.SetProfile(up, now);
  down_link.SetProfile(down, now);
  const Clock::duration rto =
      std::max<Clock::duration>(std::chrono::milliseconds(200), Ms(2.0 * (up.delay_ms + down.delay_ms)));
  up_link.SetRto(rto);
  down_link.SetRto(rto);
}

void Relay::Impl::ApplyPartition(bool on, PartitionMode mode) {
  const bool was = partitioned;
  partitioned = on;
  partition_mode = mode;
  if (on && mode == PartitionMode::kReset) CloseAll(true);
  if (was && !on) {
    const Clock::time_point now = Clock::now();
    std::vector<std::shared_ptr<Connection>> conns(connections.begin(), connections.end());
    for (auto& c : conns) {
      c->Recover(c->up, now);
      c->Recover(c->down, now);
    }
  }
}

void Relay::Impl::CloseAll(bool reset) {
  std::vector<std::shared_ptr<Connection>> conns(connections.begin(), connections.end());
  for (auto& c : conns) c->Close(reset);
  connections.clear();
}

void Relay::Impl::StartPhase(size_t index, Clock::time_point start, uint64_t generation) {
  if (generation != scenario_generation) return;
  if (index >= scenario.phases.size()) {
    if (!scenario.loop) {
      if (on_phase) on_phase(scenario.phases.size(), scenario.phases.back());
      return;
    }
    index = 0;
  }
  const Phase& phase = scenario.phases[index];
  ApplyProfile(phase.up, phase.down);
  ApplyPartition(phase.partition, phase.partition_mode);
  if (on_phase) on_phase(index, phase);
  const Clock::time_point next = start + Ms(phase.duration_s * 1000.0);
  scenario_timer.expires_at(next);
  scenario_timer.async_wait([this, index, next, generation](const error_code& ec) {
    if (ec) return;
    StartPhase(index + 1, next, generation);
  });
}

Relay::Relay(RelayOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Relay::~Relay() { Stop(); }

Status Relay::Start() {
  Impl& m = *impl_;
  if (m.running.load()) return FailedPrecondition("linkemu: relay already started");
  try {
    tcp::resolver resolver(m.io);
    auto targets = resolver.resolve(m.options.target_host, std::to_string(m.options.target_port));
    if (targets.empty()) return InvalidArgument("linkemu: cannot resolve target " + m.options.target_host);
    m.target = targets.begin()->endpoint();
    auto listens = resolver.resolve(m.options.listen_host, std::to_string(m.options.listen_port));
    if (listens.empty())
      return InvalidArgument("linkemu: cannot resolve listen address " + m.options.listen_host);
    tcp::endpoint listen = listens.begin()->endpoint();
    m.acceptor.open(listen.protocol());
    m.acceptor.set_option(asio::socket_base::reuse_address(true));
    m.acceptor.bind(listen);
    m.acceptor.listen();
    m.bound_port = m.acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    error_code ignored;
    m.acceptor.close(ignored);
    return Unavailable(std::string("linkemu: cannot listen on ") + m.options.listen_host + ":" +
                       std::to_string(m.options.listen_port) + ": " + e.what());
  }
  m.DoAccept();
  m.work.emplace(m.io.get_executor());
  m.thread = std::thread([&m] { m.io.run(); });
  m.running = true;
  return Status::Ok();
}

void Relay::Stop() {
  Impl& m = *impl_;
  if (!m.running.load()) return;
  asio::post(m.io, [&m] {
    error_code ignored;
    m.acceptor.close(ignored);
    m.scenario_timer.cancel();
    ++m.scenario_generation;
    m.CloseAll(false);
    m.io.stop();
  });
  m.thread.join();
  m.work.reset();
  m.running = false;
}

uint16_t Relay::port() const { return impl_->bound_port.load(); }

void Relay::SetProfile(const LinkProfile& up, const LinkProfile& down) {
  impl_->RunSync([&] { impl_->ApplyProfile(up, down); });
}

void Relay::SetPartition(bool partitioned, PartitionMode mode) {
  impl_->RunSync([&] { impl_->ApplyPartition(partitioned, mode); });
}

void Relay::PlayScenario(Scenario scenario, PhaseCallback on_phase) {
  impl_->RunSync([&] {
    Impl& m = *impl_;
    if (scenario.phases.empty()) return;
    m.scenario_timer.cancel();
    const uint64_t generation = ++m.scenario_generation;
    m.up_link = LinkModel(scenario.seed ^ kUpSalt);
    m.down_link = LinkModel(scenario.seed ^ kDownSalt);
    m.scenario = std::move(scenario);
    m.on_phase = std::move(on_phase);
    m.StartPhase(0, Clock::now(), generation);
  });
}

RelayStats Relay::stats() const {
  const Impl& m = *impl_;
  RelayStats s;
  s.connections_accepted = m.accepted.load();
  s.connections_open = m.open.load();
  s.bytes_up = m.bytes_up.load();
  s.bytes_down = m.bytes_down.load();
  s.chunks_lost = m.lost.load();
  return s;
}

}  // namespace continuum::linkemu
