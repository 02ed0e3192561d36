// `continuum serve`: an inference node speaking the KServe v2 REST protocol.
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "api/task_api.h"
#include "api/v2_api.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/server_flags.h"
#include "common/log.h"
#include "filters/filters.h"
#include "grpc/grpc_server.h"
#include "http/server.h"
#include "node/inference_node.h"
#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/catalog.h"
#include "tasks/executor.h"
#include "tasks/runner.h"
#include "telemetry/metrics.h"

namespace continuum::cli {

int Serve(const std::vector<std::string>& args) {
  std::string repo_dir, control_mode = "none";
  std::vector<std::string> load_models;
  ServerFlags server_flags("0.0.0.0", 8000);
  int64_t poll_secs = 5, threads = 0;
  int64_t default_max_batch = 8, max_elements = 1 << 26, max_json_depth = 32, inter_op = 1;
  bool spinning = false, verbose = false, help = false;
  std::string cpu_arena = "shrink";
  std::string filters_path, admin_address = "127.0.0.1";
  int64_t admin_port = 8002, grpc_port = 8001;
  std::string catalog_dir;
  int64_t task_threads = 0, task_queue = 1024, task_queue_bytes = tasks::TaskExecutor::kDefaultMaxQueueBytes;
  int64_t max_queue_bytes = 256 << 20;
  tasks::TaskLimits task_limits;
  ComputeEmulation emulation;
  int64_t emulation_seed = 1;

  Flags f;
  f.String("model-repository", &repo_dir, "model repository folder (<model>/<version>/model.onnx)");
  server_flags.Register(f);
  f.Int("grpc-port", &grpc_port,
        "KServe v2 gRPC port, on the HTTP listener's address (0: pick a free one; negative: no gRPC)");
  f.String("model-control-mode", &control_mode, "none | poll | explicit");
  f.List("load-model", &load_models, "explicit mode: a model to load at start ('*': all); repeatable");
  f.Int("repository-poll-secs", &poll_secs, "poll mode: seconds between repository scans");
  f.Int("intra-op-threads", &threads,
        "size of the one ONNX Runtime thread pool shared by all models (0: one per core)");
  f.Int("inter-op-threads", &inter_op, "ONNX Runtime inter-op threads (global)");
  f.Bool("allow-spinning", &spinning, "let ONNX Runtime worker threads spin while idle");
  f.String("cpu-arena", &cpu_arena,
           "ONNX Runtime CPU memory arena: shrink (one shared arena, shrunk after each run) | keep (an arena "
           "per model that keeps its peak) | off (malloc per tensor)");
  f.Int("default-max-batch-size", &default_max_batch, "max_batch_size for batchable models without a config");
  f.Int("max-tensor-elements", &max_elements, "largest tensor accepted, in elements");
  f.Int("max-json-depth", &max_json_depth, "deepest JSON nesting accepted in a request");
  f.String("catalog", &catalog_dir, "task catalog folder (<entry>/catalog.json) served on /ai and /v1");
  f.Int("task-threads", &task_threads, "threads running task pre/post-processing (0: two per core)");
  f.Int("task-queue", &task_queue, "task requests waiting for a thread; beyond this 503");
  f.Int("task-queue-bytes", &task_queue_bytes,
        "bytes of task requests waiting for a thread; beyond this 503");
  f.Int("max-queue-bytes", &max_queue_bytes,
        "input tensor bytes waiting per model version (caps limits.max_queue_bytes); beyond this 503");
  f.Int("max-image-pixels", &task_limits.max_image_pixels,
        "largest decoded image accepted by tasks (width x height)");
  f.Int("max-image-bytes", &task_limits.max_image_bytes, "largest encoded image accepted by tasks");
  f.Int("max-audio-bytes", &task_limits.max_audio_bytes, "largest encoded audio file accepted by tasks");
  f.Int("max-texts", &task_limits.max_texts, "most texts in one task request");
  f.Int("max-text-bytes", &task_limits.max_text_bytes, "longest text accepted by tasks, in bytes");
  f.Double("compute-scale", &emulation.scale,
           "emulate a slower processor: pad every engine run to this many times its measured time (>= 1)");
  f.Double("inject-straggler-fraction", &emulation.straggler_fraction,
           "fault injection: share of engine runs delayed by --inject-straggler-ms (0..1)");
  f.Double("inject-straggler-ms", &emulation.straggler_ms, "fault injection: delay of a straggler run");
  f.Int("inject-seed", &emulation_seed, "seed of the straggler draws");
  f.String("filters", &filters_path, "AI-gateway filter chain config (JSON, see src/filters/README.md)");
  f.Int("admin-port", &admin_port, "with --filters: admin API port (tenants, keys; 0: pick a free one)");
  f.String("admin-address", &admin_address, "with --filters: admin API address (keep it private)");
  f.Bool("log-verbose", &verbose, "log debug messages");
  f.Bool("help", &help, "show this help");
  if (Status st = f.Parse(args); !st.ok() || help) {
    if (!st.ok()) std::fprintf(stderr, "continuum serve: %s\n\n", st.message().c_str());
    std::fprintf(stderr, "usage: continuum serve --model-repository DIR [flags]\n\n%s", f.Usage().c_str());
    return help ? 0 : 2;
  }
  if (verbose) SetLogLevel(LogLevel::kDebug);
  auto mode = ParseModelControlMode(control_mode);
  if (!mode.ok()) {
    std::fprintf(stderr, "continuum serve: %s\n", mode.status().message().c_str());
    return 2;
  }
  auto arena = runtime::ParseCpuArena(cpu_arena);
  if (!arena.ok()) {
    std::fprintf(stderr, "continuum serve: --cpu-arena: %s\n", arena.status().message().c_str());
    return 2;
  }
  if (repo_dir.empty()) {
    std::fprintf(stderr, "continuum serve: --model-repository is required\n");
    return 2;
  }
  auto server_options = server_flags.Options();
  if (!server_options.ok()) {
    std::fprintf(stderr, "continuum serve: %s\n", server_options.status().message().c_str());
    return 2;
  }
  if (poll_secs < 1 || max_elements < 1 || max_json_depth < 2 || default_max_batch < 0 || threads < 0 ||
      task_queue_bytes < 1 || max_queue_bytes < 1 || task_limits.max_image_bytes < 1 ||
      task_limits.max_audio_bytes < 1 || task_limits.max_text_bytes < 1) {
    std::fprintf(stderr, "continuum serve: a numeric flag is out of range (see --help)\n");
    return 2;
  }

  emulation.seed = static_cast<uint64_t>(emulation_seed);
  if (Status st = emulation.Validate(); !st.ok()) {
    std::fprintf(stderr, "continuum serve: %s\n", st.message().c_str());
    return 2;
  }
  if (emulation.enabled()) {
    char line[160];
    std::snprintf(line, sizeof line, "emulating compute: scale %.2f, stragglers %.4f x %.1f ms (seed %llu)",
                  emulation.scale, emulation.straggler_fraction, emulation.straggler_ms,
                  static_cast<unsigned long long>(emulation.seed));
    LogInfo(line);
  }

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // The node itself (engine, repository, v2 and task APIs); models load after the listener is up.
  InferenceNodeOptions no;
  no.engine = {.intra_op_threads = static_cast<int>(threads),
               .inter_op_threads = static_cast<int>(inter_op),
               .allow_spinning = spinning,
               .cpu_arena = *arena,
               .own_malloc = true};
  no.repository.root = repo_dir;
  no.repository.mode = *mode;
  no.repository.poll_interval = std::chrono::seconds(poll_secs);
  no.repository.startup_models = load_models;
  no.repository.default_max_batch_size = default_max_batch;
  no.repository.default_max_tensor_elements = max_elements;
  no.repository.default_max_queue_bytes = max_queue_bytes;
  no.repository.emulation = emulation;
  no.v2.server_version = CONTINUUM_VERSION;
  no.v2.codec_limits.max_json_depth = static_cast<size_t>(max_json_depth);
  no.v2.codec_limits.max_tensor_elements = max_elements;
  no.v2.max_decoded_body_bytes = server_options->max_body_bytes;  // a compressed body inflates to no more
  const v2::CodecLimits codec_limits = no.v2.codec_limits;        // the filters decode with the same
  no.catalog_dir = catalog_dir;
  no.task_limits = task_limits;
  no.task_threads = static_cast<int>(task_threads);
  no.task_queue = static_cast<size_t>(std::max<int64_t>(1, task_queue));
  no.task_queue_bytes = task_queue_bytes;
  auto created = InferenceNode::Create(std::move(no));
  if (!created.ok()) {
    LogError(created.status().message());
    return 1;
  }
  std::unique_ptr<InferenceNode> node = std::move(created).value();
  LogInfo("ONNX Runtime " + runtime::Engine::OrtVersion() + ", one shared pool of " +
          std::to_string(node->engine().intra_op_threads()) + " intra-op threads");
  telemetry::Registry& registry = node->registry();

  http::ServerOptions so = *server_options;
  // The listener comes up first so liveness answers while models load; readiness follows.
  InferenceNode* n = node.get();
  http::Handler handler = [n](http::Request&& r, http::Responder w) {
    n->Handle(std::move(r), std::move(w));
  };
  std::unique_ptr<filters::Frontend> frontend;  // outlives the server below
  if (!filters_path.empty()) {
    http::ServerOptions ao;
    ao.address = admin_address;
    ao.port = static_cast<uint16_t>(admin_port);
    filters::ChainOptions co;
    co.metrics = &registry;
    co.codec_limits = codec_limits;
    // The cache asks the repository which version answers "latest" now.
    co.resolve_version = [n](std::string_view model) {
      auto v = n->repository().Get(std::string(model));
      return v.ok() ? std::to_string((*v)->version()) : std::string();
    };
    auto fe = filters::StartFrontend(filters_path, std::move(handler), co, ao);
    if (!fe.ok()) {
      LogError(fe.status().message());
      return 1;
    }
    frontend = std::move(fe).value();
    handler = frontend->handler;
  }
  auto server = http::Server::Start(so, std::move(handler));
  if (!server.ok()) {
    LogError("cannot listen on " + so.address + ":" + std::to_string(so.port) + ": " +
             server.status().message());
    return 1;
  }
  LogInfo("listening on http://" + so.address + ":" + std::to_string((*server)->port()));
  std::fprintf(stdout, "continuum serve: listening on port %u\n", (*server)->port());
  if (frontend && frontend->admin) {
    std::fprintf(stdout, "continuum serve: admin listening on port %u\n", frontend->admin->port());
    // Where the token is, never the token itself.
    if (!frontend->admin_token_file.empty()) {
      std::fprintf(stdout, "continuum serve: admin token in %s\n", frontend->admin_token_file.c_str());
    }
  }
  std::unique_ptr<grpc_api::GrpcServer> grpc;  // the same limits as REST; stopped before the node goes
  if (grpc_port >= 0) {
    grpc_api::GrpcServerOptions go{.address = so.address,
                                   .port = static_cast<int>(grpc_port),
                                   .max_receive_message_bytes = so.max_body_bytes,
                                   .codec_limits = codec_limits,
                                   .server_version = CONTINUUM_VERSION};
    auto started = grpc_api::StartGrpcServer(go, *node);
    if (!started.ok()) {
      LogError(started.status().message());
      (*server)->Stop();
      return 1;
    }
    grpc = std::move(started).value();
    std::fprintf(stdout, "continuum serve: grpc listening on port %d\n", grpc->port());
  }
  std::fflush(stdout);

  if (Status st = node->Start(); !st.ok()) {
    LogError(st.message());
    (*server)->Stop();
    return 1;
  }
  LogInfo(node->Ready() ? "ready" : "started, but some models failed to load (see the repository index)");

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
  // Refuse new work, drain (queued requests are answered while connections stay open), then close.
  if (grpc) grpc->BeginShutdown();
  node->Shutdown();  // running tasks finish (their tensors are still served)
  if (grpc) grpc->Stop();
  (*server)->Stop();
  LogInfo("stopped");
  return 0;
}

}  // namespace continuum::cli
