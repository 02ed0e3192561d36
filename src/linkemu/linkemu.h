// A user-space network link emulator: a TCP relay that forwards bytes between a client and a
// target through one emulated link per direction (delay, jitter, bandwidth, loss, partition).
//
// Model, per direction ("up" = client -> target, "down" = target -> client):
//  * Bytes are read in chunks (at most RelayOptions::read_chunk_bytes each) and leave the link
//    in FIFO order. A chunk's release time is
//        departure (token bucket: rate = bandwidth, depth = burst) + delay + jitter
//    where jitter is uniform in [-jitter_ms, +jitter_ms] from a deterministic PRNG seeded by
//    the seed. Release times are then clamped to be no earlier than the previous chunk's on the
//    same connection, so jitter never reorders bytes (it can only add latency to later chunks).
//  * Loss: TCP cannot lose bytes without breaking the stream, so a loss is emulated as the
//    retransmission it would cause: with probability `loss` a chunk is held back an extra
//    retransmission timeout, RTO = max(200 ms, 2 x RTT), RTT = up.delay_ms + down.delay_ms.
//    Later chunks on that connection wait behind it (head-of-line blocking, as in TCP).
//  * Partition: no bytes flow either way. Existing connections stall; new connections are
//    accepted (and connected to the target) but stall. Chunks already on the link are re-timed
//    on recovery to arrive no earlier than recovery + delay. In `reset` mode every connection
//    is closed (RST) when the partition starts, and connections accepted during it are closed.
//  * The bandwidth token bucket is shared by all connections in one direction (it is one link);
//    delay and FIFO order are per connection.
//  * Back-pressure: a connection stops reading from a side while more than
//    RelayOptions::max_in_flight_bytes are queued in that direction.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::linkemu {

using Clock = std::chrono::steady_clock;

// The impairment of one direction of a link. Zero means "none" for every field.
struct LinkProfile {
  double delay_ms = 0;        // one-way delay
  double jitter_ms = 0;       // uniform +-jitter around the delay (never reorders)
  double bandwidth_kbps = 0;  // kilobits (1000 bits) per second; 0 = unlimited
  double loss = 0;            // probability in [0, 1] that a chunk pays an extra RTO
  int64_t burst_bytes = 0;    // token bucket depth; 0 = default (max(16 KiB, 10 ms of rate))

  double BytesPerSecond() const { return bandwidth_kbps * 1000.0 / 8.0; }
};

enum class PartitionMode { kStall, kReset };

// One step of a scenario.
struct Phase {
  std::string name;
  double duration_s = 0;
  bool partition = false;
  PartitionMode partition_mode = PartitionMode::kStall;
  LinkProfile up;    // client -> target
  LinkProfile down;  // target -> client
};

// A versioned timeline of phases (see bench/routing/scenarios/ for examples):
// {"schema_version":1,"seed":42,"loop":false,"phases":[{"name":"good wifi","duration_s":10,
//   "up":{"delay_ms":5,"jitter_ms":1,"bandwidth_kbps":50000,"loss":0,"burst_bytes":65536},
//   "down":{...}},{"name":"cut","duration_s":5,"partition":true,"partition_mode":"stall"}]}
// "up"/"down" left out mean an unimpaired direction. Unknown fields are errors.
struct Scenario {
  int schema_version = 1;
  uint64_t seed = 1;
  bool loop = false;
  std::vector<Phase> phases;
};

// Errors are kInvalidArgument and name the offending field, e.g. "phases[1].up.loss: ...".
StatusOr<Scenario> ParseScenario(std::string_view json);
StatusOr<Scenario> LoadScenario(const std::string& path);

// A small deterministic PRNG (splitmix64).
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  double Uniform();  // [0, 1)
 private:
  uint64_t state_;
};

// The timing model of one direction of a link, without any I/O: tests drive it with a fake
// clock. Not thread-safe.
class LinkModel {
 public:
  explicit LinkModel(uint64_t seed);

  void SetProfile(const LinkProfile& profile, Clock::time_point now);
  const LinkProfile& profile() const { return profile_; }
  // Extra hold-back of a "lost" chunk; set by the relay from both directions' delays.
  void SetRto(Clock::duration rto) { rto_ = rto; }
  Clock::duration rto() const { return rto_; }

  struct Decision {
    Clock::time_point release;  // when the chunk leaves the link (before FIFO clamping)
    Clock::duration jitter{};   // the jitter drawn for it
    bool lost = false;          // whether it paid an extra RTO
  };
  // Schedules a chunk of `bytes` entering the link at `now`.
  Decision Schedule(Clock::time_point now, size_t bytes);

 private:
  LinkProfile profile_;
  Prng prng_;
  Clock::duration rto_ = std::chrono::milliseconds(200);
  double tokens_ = 0;  // may go negative: the debt is the queueing delay of the next chunk
  Clock::time_point last_refill_{};
  bool bucket_started_ = false;
};

struct RelayOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;  // 0 = any free port (see Relay::port())
  std::string target_host = "127.0.0.1";
  uint16_t target_port = 0;
  uint64_t seed = 1;
  size_t read_chunk_bytes = 16 * 1024;
  size_t max_in_flight_bytes = 256 * 1024;  // per connection and direction
};

struct RelayStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t bytes_up = 0;     // delivered to the target
  uint64_t bytes_down = 0;   // delivered to the client
  uint64_t chunks_lost = 0;  // chunks that paid an extra RTO
};

// The relay. All public methods are thread-safe; the work happens on one internal thread.
class Relay {
 public:
  explicit Relay(RelayOptions options);
  ~Relay();  // Stop()s
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Binds the listening socket and starts the I/O thread.
  Status Start();
  // Closes every connection and joins the I/O thread. Idempotent. Not from an on_phase callback.
  void Stop();
  // The bound port (valid after Start()).
  uint16_t port() const;

  // Changes both directions at run time; chunks already on the link keep their times.
  void SetProfile(const LinkProfile& up, const LinkProfile& down);
  void SetPartition(bool partitioned, PartitionMode mode = PartitionMode::kStall);

  // Plays a scenario from now on (replacing one already playing). on_phase is called on the
  // I/O thread at each phase start with the phase index; after the last phase of a
  // non-looping scenario it is called once more with index == phases.size() (the last
  // phase's settings stay in effect). The scenario's seed reseeds both links.
  using PhaseCallback = std::function<void(size_t index, const Phase& phase)>;
  void PlayScenario(Scenario scenario, PhaseCallback on_phase = {});

  RelayStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace continuum::linkemu
