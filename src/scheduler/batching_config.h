// The dynamic batcher's settings: what a model's config.json says under "dynamic_batching"
// (parsed in repository/model_config.h, which includes this) and what the Scheduler reads.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace continuum {

struct DynamicBatchingConfig {
  std::vector<int64_t> preferred_batch_size;  // a batch is cut as soon as one of these is reached
  // How long the oldest request may wait for company. Unset (the default): adaptive, a free
  // instance waits only when the measured arrival rate makes waiting cheaper than another run
  // (src/scheduler/batch_policy.h).
  std::optional<int64_t> max_queue_delay_microseconds;
  // The longest adaptive wait (no effect with a configured delay); also at most half of
  // limits.queue_timeout_microseconds when that is set.
  int64_t max_adaptive_delay_microseconds = 1000;
};

}  // namespace continuum
