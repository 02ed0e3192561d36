// continuum_loadgen: a closed-loop HTTP/1.1 load generator for the benchmarks.
//
// Opens N keep-alive connections and keeps exactly one request in flight on each: as soon as a
// response is complete the same prebuilt request is sent again. The request is a file holding
// the complete raw HTTP request (request line, headers, blank line, body), so JSON and binary
// (KServe v2 binary tensor extension) requests are replayed byte for byte with no per-request
// client work. Connections are spread over T threads, each running an epoll loop.
//
// Latency is measured per request from the first byte written to the last byte of the response
// read, with CLOCK_MONOTONIC (steady_clock). Only responses that complete inside the measurement
// window (after --warmup, before the end) are counted.
//
// Usage:
//   continuum_loadgen --port P --request FILE [--host 127.0.0.1] [-c CONNECTIONS] [-t THREADS]
//                     [-d SECONDS | -n REQUESTS] [--warmup SECONDS] [--json]
// Prints requests, errors, req/s and latency percentiles (p50 p90 p99 p999, in microseconds).
// Exit status: 0 when every counted response had a 2xx status, 1 otherwise, 2 on usage errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string request_file;
  int connections = 1;
  int threads = 1;
  double duration_s = 5;
  int64_t requests = 0;  // > 0: count mode instead of duration
  double warmup_s = 0;
  bool json = false;
};

[[noreturn]] void Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "continuum_loadgen: %s\n", msg);
  std::fprintf(stderr,
               "usage: continuum_loadgen --port P --request FILE [--host H] [-c CONNECTIONS] [-t THREADS]\n"
               "                         [-d SECONDS | -n REQUESTS] [--warmup SECONDS] [--json]\n");
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--host")
      o.host = value();
    else if (a == "--port")
      o.port = std::atoi(value().c_str());
    else if (a == "--request")
      o.request_file = value();
    else if (a == "-c" || a == "--connections")
      o.connections = std::atoi(value().c_str());
    else if (a == "-t" || a == "--threads")
      o.threads = std::atoi(value().c_str());
    else if (a == "-d" || a == "--duration")
      o.duration_s = std::atof(value().c_str());
    else if (a == "-n" || a == "--requests")
      o.requests = std::atoll(value().c_str());
    else if (a == "--warmup")
      o.warmup_s = std::atof(value().c_str());
    else if (a == "--json")
      o.json = true;
    else if (a == "-h" || a == "--help")
      Usage(nullptr);
    else
      Usage(("unknown argument " + a).c_str());
  }
  if (o.port <= 0 || o.port > 65535) Usage("--port is required");
  if (o.request_file.empty()) Usage("--request is required");
  if (o.connections < 1) Usage("-c must be >= 1");
  if (o.threads < 1) o.threads = 1;
  if (o.threads > o.connections) o.threads = o.connections;
  if (o.requests <= 0 && o.duration_s <= 0) Usage("-d must be > 0");
  return o;
}

// Incremental parser for one HTTP/1.1 response (Content-Length or chunked body).
class ResponseParser {
 public:
  enum class Result { kNeedMore, kDone, kError };

  void Reset() {
    header_done_ = false;
    chunked_ = false;
    close_ = false;
    status_ = 0;
    body_start_ = 0;
    content_length_ = 0;
    chunk_pos_ = 0;
  }

  // `buf` holds everything received since the response started. On kDone, `*consumed` is the
  // response's length in `buf`.
  Result Parse(std::string_view buf, size_t* consumed) {
    if (!header_done_) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string_view::npos) return buf.size() > (64u << 10) ? Result::kError : Result::kNeedMore;
      std::string_view head = buf.substr(0, end + 2);
      if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return Result::kError;
      status_ = std::atoi(std::string(head.substr(9, 3)).c_str());
      size_t pos = head.find("\r\n") + 2;
      bool have_length = false;
      while (pos < head.size()) {
        size_t eol = head.find("\r\n", pos);
        std::string_view line = head.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        if (name == "content-length") {
          content_length_ = std::strtoull(std::string(v).c_str(), nullptr, 10);
          have_length = true;
        } else if (name == "transfer-encoding") {
          chunked_ = v.find("chunked") != std::string_view::npos;
        } else if (name == "connection") {
          close_ = v.find("close") != std::string_view::npos;
        }
      }
      header_done_ = true;
      body_start_ = end + 4;
      chunk_pos_ = body_start_;
      if (!have_length && !chunked_) content_length_ = 0;
    }
    if (!chunked_) {
      if (buf.size() < body_start_ + content_length_) return Result::kNeedMore;
      *consumed = body_start_ + content_length_;
      return Result::kDone;
    }
    // Chunked: walk "size\r\n data\r\n" ... "0\r\n\r\n" (no trailers expected).
    while (true) {
      size_t eol = buf.find("\r\n", chunk_pos_);
      if (eol == std::string_view::npos) return Result::kNeedMore;
      size_t size = std::strtoull(std::string(buf.substr(chunk_pos_, eol - chunk_pos_)).c_str(), nullptr, 16);
      if (size == 0) {
        if (buf.size() < eol + 4) return Result::kNeedMore;
        *consumed = eol + 4;
        return Result::kDone;
      }
      if (buf.size() < eol + 2 + size + 2) return Result::kNeedMore;
      chunk_pos_ = eol + 2 + size + 2;
    }
  }

  int status() const { return status_; }
  bool close() const { return close_; }

 private:
  bool header_done_ = false;
  bool chunked_ = false;
  bool close_ = false;
  int status_ = 0;
  size_t body_start_ = 0;
  size_t content_length_ = 0;
  size_t chunk_pos_ = 0;
};

struct Shared {
  Options opt;
  std::string request;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  Clock::time_point start, measure_from, stop_at;
  std::atomic<int64_t> issued{0};  // count mode: requests handed out
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  std::string first_error;  // first non-2xx response or socket error, for diagnosis
};

struct ThreadResult {
  std::vector<uint32_t> latencies_ns;  // capped at ~4.29 s, far beyond anything measured here
  int64_t completed = 0;               // in the window
  int64_t errors = 0;                  // in the window
  int64_t reconnects = 0;
  Clock::time_point last_done{};
};

struct Conn {
  int fd = -1;
  size_t sent = 0;
  bool want_write = false;
  bool in_flight = false;
  Clock::time_point t0;
  std::string buf;
  ResponseParser parser;
};

void NoteError(Shared& sh, const std::string& what) {
  std::lock_guard lock(sh.err_mu);
  if (sh.first_error.empty()) sh.first_error = what;
}

int Connect(Shared& sh) {
  int fd = socket(sh.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sh.addr), sh.addr_len) != 0) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

class Worker {
 public:
  Worker(Shared& sh, int connections) : sh_(sh), conns_(connections) {}

  void Run(ThreadResult* out) {
    out_ = out;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (auto& c : conns_) {
      if (!Open(c)) {
        sh_.failed = true;
        NoteError(sh_, std::string("connect: ") + std::strerror(errno));
        return;
      }
      StartRequest(c);
    }
    std::vector<epoll_event> events(conns_.size() + 1);
    while (true) {
      int in_flight = 0;
      for (auto& c : conns_) in_flight += c.in_flight ? 1 : 0;
      if (in_flight == 0) break;
      const auto now = Clock::now();
      if (sh_.opt.requests <= 0 && now >= sh_.stop_at) break;  // duration mode: drop what is in flight
      int timeout_ms = 100;
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[i].data.u32];
        if (events[i].events & EPOLLOUT) Write(c);
        if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Read(c);
      }
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(ep_);
  }

 private:
  bool Open(Conn& c) {
    c.fd = Connect(sh_);
    if (c.fd < 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.want_write = false;
    c.buf.clear();
    return true;
  }

  void Reopen(Conn& c) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    c.in_flight = false;
    ++out_->reconnects;
    if (!Open(c)) {
      NoteError(sh_, std::string("reconnect: ") + std::strerror(errno));
      sh_.failed = true;
      return;
    }
  }

  void SetWrite(Conn& c, bool on) {
    if (c.want_write == on) return;
    c.want_write = on;
    epoll_event ev{};
    ev.events = EPOLLIN | (on ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  void StartRequest(Conn& c) {
    if (sh_.failed) return;
    if (sh_.opt.requests > 0) {
      if (sh_.issued.fetch_add(1) >= sh_.opt.requests) return;
    } else if (Clock::now() >= sh_.stop_at) {
      return;
    }
    c.sent = 0;
    c.buf.clear();
    c.parser.Reset();
    c.in_flight = true;
    c.t0 = Clock::now();
    Write(c);
  }

  void Write(Conn& c) {
    while (c.sent < sh_.request.size()) {
      ssize_t n = send(c.fd, sh_.request.data() + c.sent, sh_.request.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetWrite(c, true);
        return;
      }
      NoteError(sh_, std::string("send: ") + std::strerror(errno));
      Reopen(c);
      StartRequest(c);
      return;
    }
    SetWrite(c, false);
  }

  void Read(Conn& c) {
    char tmp[65536];
    while (true) {
      ssize_t n = recv(c.fd, tmp, sizeof tmp, 0);
      if (n > 0) {
        c.buf.append(tmp, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof tmp) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // Closed by the peer (or an error) before the response completed.
      if (c.in_flight)
        NoteError(sh_, n == 0 ? "connection closed by server mid-request" : std::strerror(errno));
      if (c.in_flight && InWindow(Clock::now())) ++out_->errors;
      Reopen(c);
      StartRequest(c);
      return;
    }
    if (!c.in_flight) return;
    size_t consumed = 0;
    auto r = c.parser.Parse(c.buf, &consumed);
    if (r == ResponseParser::Result::kNeedMore) return;
    const auto t1 = Clock::now();
    c.in_flight = false;
    bool ok = r == ResponseParser::Result::kDone && c.parser.status() >= 200 && c.parser.status() < 300;
    if (InWindow(t1)) {
      if (ok) {
        uint64_t ns =
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - c.t0).count());
        out_->latencies_ns.push_back(static_cast<uint32_t>(std::min<uint64_t>(ns, UINT32_MAX)));
        ++out_->completed;
        out_->last_done = t1;
      } else {
        ++out_->errors;
      }
    }
    if (!ok) {
      NoteError(sh_, r == ResponseParser::Result::kError
                         ? std::string("unparsable response")
                         : "HTTP " + std::to_string(c.parser.status()) + ": " + c.buf.substr(0, 600));
    }
    if (r == ResponseParser::Result::kError || c.parser.close() || consumed != c.buf.size()) {
      Reopen(c);
    }
    StartRequest(c);
  }

  bool InWindow(Clock::time_point t) const {
    if (sh_.opt.requests > 0) return t >= sh_.measure_from;
    return t >= sh_.measure_from && t < sh_.stop_at;
  }

  Shared& sh_;
  std::vector<Conn> conns_;
  ThreadResult* out_ = nullptr;
  int ep_ = -1;
};

double Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  if (rank >= sorted.size()) rank = sorted.size() - 1;
  return sorted[rank] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Shared sh;
  sh.opt = ParseArgs(argc, argv);
  {
    std::ifstream f(sh.opt.request_file, std::ios::binary);
    if (!f) Usage(("cannot read " + sh.opt.request_file).c_str());
    sh.request.assign(std::istreambuf_iterator<char>(f), {});
    if (sh.request.find("\r\n\r\n") == std::string::npos)
      Usage("request file holds no complete header block");
  }
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(sh.opt.host.c_str(), std::to_string(sh.opt.port).c_str(), &hints, &res) != 0 || !res) {
    Usage(("cannot resolve " + sh.opt.host).c_str());
  }
  std::memcpy(&sh.addr, res->ai_addr, res->ai_addrlen);
  sh.addr_len = res->ai_addrlen;
  freeaddrinfo(res);

  sh.start = Clock::now();
  sh.measure_from =
      sh.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(sh.opt.warmup_s));
  sh.stop_at = sh.measure_from +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(sh.opt.duration_s));
  if (sh.opt.requests > 0) sh.stop_at = Clock::time_point::max();

  const int t = sh.opt.threads;
  std::vector<ThreadResult> results(t);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < t; ++i) {
    int n = sh.opt.connections / t + (i < sh.opt.connections % t ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(sh, n));
    results[i].latencies_ns.reserve(1 << 20);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < t; ++i) threads.emplace_back([&, i] { workers[i]->Run(&results[i]); });
  for (auto& th : threads) th.join();
  const auto end = Clock::now();

  std::vector<uint32_t> all;
  int64_t completed = 0, errors = 0, reconnects = 0;
  Clock::time_point last{};
  for (auto& r : results) {
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    completed += r.completed;
    errors += r.errors;
    reconnects += r.reconnects;
    last = std::max(last, r.last_done);
  }
  std::sort(all.begin(), all.end());
  double window_s;
  if (sh.opt.requests > 0) {
    window_s = std::chrono::duration<double>((completed ? last : end) - sh.measure_from).count();
  } else {
    window_s = std::chrono::duration<double>(std::min(end, sh.stop_at) - sh.measure_from).count();
  }
  double rps = window_s > 0 ? static_cast<double>(completed) / window_s : 0;
  double mean = 0;
  for (uint32_t v : all) mean += v;
  mean = all.empty() ? 0 : mean / static_cast<double>(all.size()) / 1000.0;
  double p50 = Percentile(all, 50), p90 = Percentile(all, 90), p99 = Percentile(all, 99),
         p999 = Percentile(all, 99.9), max = all.empty() ? 0 : all.back() / 1000.0;

  if (sh.opt.json) {
    std::printf("{\"connections\":%d,\"threads\":%d,\"seconds\":%.3f,\"requests\":%" PRId64
                ",\"errors\":%" PRId64 ",\"reconnects\":%" PRId64
                ",\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
                "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n",
                sh.opt.connections, t, window_s, completed, errors, reconnects, rps, p50, p90, p99, p999, max,
                mean);
  } else {
    std::printf("connections %d  threads %d  window %.2f s  requests %" PRId64 "  errors %" PRId64
                "  reconnects %" PRId64 "\n",
                sh.opt.connections, t, window_s, completed, errors, reconnects);
    std::printf("throughput  %.1f req/s\n", rps);
    std::printf("latency us  p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f  max %.1f  mean %.1f\n", p50, p90, p99,
                p999, max, mean);
  }
  if (!sh.first_error.empty())
    std::fprintf(stderr, "continuum_loadgen: first error: %s\n", sh.first_error.c_str());
  return (errors > 0 || sh.failed || completed == 0) ? 1 : 0;
}
