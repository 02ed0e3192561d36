// `continuum serve`: an inference node speaking the KServe v2 REST protocol.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "cli/agent_flags.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/server_flags.h"
#include "cli/serving.h"
#include "common/log.h"
#include "grpc/grpc_server.h"
#include "node/inference_node.h"
#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/executor.h"

namespace continuum::cli {

namespace {

constexpr const char* kCommand = "serve";

struct ServeConfig {
  std::string repo_dir, control_mode = "none", cpu_arena = "shrink", catalog_dir;
  std::vector<std::string> load_models;
  ServerFlags server{"0.0.0.0", 8000};
  FilterFlags filters{8002, "tenants, keys"};
  int64_t grpc_port = 8001, poll_secs = 5, threads = 0, inter_op = 1;
  int64_t default_max_batch = 8, max_elements = 1 << 26, max_json_depth = 32;
  int64_t task_threads = 0, task_queue = 1024, task_queue_bytes = tasks::TaskExecutor::kDefaultMaxQueueBytes;
  int64_t max_queue_bytes = 256 << 20;
  tasks::TaskLimits task_limits;
  ComputeEmulation emulation;
  int64_t emulation_seed = 1;
  bool spinning = false, verbose = false;
  AgentFlags agent;  // --agent-*: the fleet agent in this process (none without --agent-hub)
};

constexpr const char* kAgentPrefix = "agent-";

void RegisterNodeFlags(Flags& f, ServeConfig* c) {
  f.String("model-repository", &c->repo_dir, "model repository folder (<model>/<version>/model.onnx)");
  f.String("model-control-mode", &c->control_mode, "none | poll | explicit");
  f.List("load-model", &c->load_models, "explicit mode: a model to load at start ('*': all); repeatable");
  f.Int("repository-poll-secs", &c->poll_secs, "poll mode: seconds between repository scans");
  f.Int("intra-op-threads", &c->threads,
        "size of the one ONNX Runtime thread pool shared by all models (0: one per core)");
  f.Int("inter-op-threads", &c->inter_op, "ONNX Runtime inter-op threads (global)");
  f.Bool("allow-spinning", &c->spinning, "let ONNX Runtime worker threads spin while idle");
  f.String("cpu-arena", &c->cpu_arena,
           "ONNX Runtime CPU memory arena: shrink (one shared arena, shrunk after each run) | keep (an arena "
           "per model that keeps its peak) | off (malloc per tensor)");
  f.Int("default-max-batch-size", &c->default_max_batch,
        "max_batch_size for batchable models without a config");
  f.Int("max-tensor-elements", &c->max_elements, "largest tensor accepted, in elements");
  f.Int("max-json-depth", &c->max_json_depth, "deepest JSON nesting accepted in a request");
  f.Int("max-queue-bytes", &c->max_queue_bytes,
        "input tensor bytes waiting per model version (caps limits.max_queue_bytes); beyond this 503");
  f.Double("compute-scale", &c->emulation.scale,
           "emulate a slower processor: pad every engine run to this many times its measured time (>= 1)");
  f.Double("inject-straggler-fraction", &c->emulation.straggler_fraction,
           "fault injection: share of engine runs delayed by --inject-straggler-ms (0..1)");
  f.Double("inject-straggler-ms", &c->emulation.straggler_ms, "fault injection: delay of a straggler run");
  f.Int("inject-seed", &c->emulation_seed, "seed of the straggler draws");
}

void RegisterTaskFlags(Flags& f, ServeConfig* c) {
  f.String("catalog", &c->catalog_dir, "task catalog folder (<entry>/catalog.json) served on /ai and /v1");
  f.Int("task-threads", &c->task_threads, "threads running task pre/post-processing (0: two per core)");
  f.Int("task-queue", &c->task_queue, "task requests waiting for a thread; beyond this 503");
  f.Int("task-queue-bytes", &c->task_queue_bytes,
        "bytes of task requests waiting for a thread; beyond this 503");
  f.Int("max-image-pixels", &c->task_limits.max_image_pixels,
        "largest decoded image accepted by tasks (width x height)");
  f.Int("max-image-bytes", &c->task_limits.max_image_bytes, "largest encoded image accepted by tasks");
  f.Int("max-audio-bytes", &c->task_limits.max_audio_bytes, "largest encoded audio file accepted by tasks");
  f.Int("max-texts", &c->task_limits.max_texts, "most texts in one task request");
  f.Int("max-text-bytes", &c->task_limits.max_text_bytes, "longest text accepted by tasks, in bytes");
}

StatusOr<InferenceNodeOptions> NodeOptions(const ServeConfig& c, const http::ServerOptions& so);
Status CheckAgent(ServeConfig& c, const http::ServerOptions& so);

constexpr char kUsage[] =
    "usage: continuum serve --model-repository DIR [flags]\n\n"
    "With --agent-hub URL (and --model-control-mode poll), the fleet agent runs in this process\n"
    "(as `continuum agent`, its flags prefixed agent-): it registers --agent-name with the hub,\n"
    "installs the packages the hub assigns into the model repository, and reports this serve's\n"
    "readiness and metrics, read in-process.";

// Parses and checks the arguments into `c`, `so` and `no`; returns the exit code when the
// command ends here (--help, a usage error).
std::optional<int> ParseServeArgs(const std::vector<std::string>& args, ServeConfig* c,
                                  http::ServerOptions* so, InferenceNodeOptions* no) {
  Flags f;
  RegisterNodeFlags(f, c);
  c->server.Register(f);
  f.Int("grpc-port", &c->grpc_port,
        "KServe v2 gRPC port, on the HTTP listener's address (0: pick a free one; negative: no gRPC)");
  RegisterTaskFlags(f, c);
  c->filters.Register(f);
  RegisterAgentFlags(f, c->agent, kAgentPrefix, true);
  f.Bool("log-verbose", &c->verbose, "log debug messages");
  if (auto code = f.ParseOrExplain(kCommand, kUsage, args)) return code;
  if (c->verbose) SetLogLevel(LogLevel::kDebug);
  auto server = c->server.Options();
  if (!server.ok()) return PrintError(kCommand, server.status());
  *so = std::move(server).value();
  if (Status st = c->filters.Check(); !st.ok()) return PrintError(kCommand, st);
  auto node = NodeOptions(*c, *so);
  if (!node.ok()) return PrintError(kCommand, node.status());
  *no = std::move(node).value();
  if (Status st = CheckAgent(*c, *so); !st.ok()) return PrintError(kCommand, st);
  return std::nullopt;
}

// --agent-hub: the agent needs poll mode (it installs into the repository, serve loads at its next
// scan) and an address the gateway can reach when serve listens on every interface.
Status CheckAgent(ServeConfig& c, const http::ServerOptions& so) {
  AgentFlags& a = c.agent;
  if (a.hub.empty()) return Status::Ok();
  if (c.control_mode != "poll") return InvalidArgument("--agent-hub needs --model-control-mode poll");
  if (a.address.empty() && (so.address == "0.0.0.0" || so.address == "::" || so.address.empty()))
    return InvalidArgument("--agent-address is required when serve listens on " + Quoted(so.address) +
                           ": the address the hub gives gateways for this node");
  a.repository = c.repo_dir;
  a.o.serve_poll_secs = c.poll_secs;
  return PrepareAgent(a, kAgentPrefix);
}

// The node's options from checked flags (kInvalidArgument naming what is wrong).
StatusOr<InferenceNodeOptions> NodeOptions(const ServeConfig& c, const http::ServerOptions& so) {
  ASSIGN_OR_RETURN(ModelControlMode mode, ParseModelControlMode(c.control_mode));
  auto arena = runtime::ParseCpuArena(c.cpu_arena);
  if (!arena.ok()) return InvalidArgument("--cpu-arena: " + arena.status().message());
  if (c.repo_dir.empty()) return InvalidArgument("--model-repository is required");
  if (c.poll_secs < 1 || c.max_elements < 1 || c.max_json_depth < 2 || c.default_max_batch < 0 ||
      c.threads < 0 || c.task_queue_bytes < 1 || c.max_queue_bytes < 1 || c.task_limits.max_image_bytes < 1 ||
      c.task_limits.max_audio_bytes < 1 || c.task_limits.max_text_bytes < 1)
    return InvalidArgument("a numeric flag is out of range (see --help)");
  InferenceNodeOptions no;
  no.repository.emulation = c.emulation;
  no.repository.emulation.seed = static_cast<uint64_t>(c.emulation_seed);
  RETURN_IF_ERROR(no.repository.emulation.Validate());
  no.engine = {.intra_op_threads = static_cast<int>(c.threads),
               .inter_op_threads = static_cast<int>(c.inter_op),
               .allow_spinning = c.spinning,
               .cpu_arena = *arena,
               .own_malloc = true};
  no.repository.root = c.repo_dir;
  no.repository.mode = mode;
  no.repository.poll_interval = std::chrono::seconds(c.poll_secs);
  no.repository.startup_models = c.load_models;
  no.repository.default_max_batch_size = c.default_max_batch;
  no.repository.default_max_tensor_elements = c.max_elements;
  no.repository.default_max_queue_bytes = c.max_queue_bytes;
  no.v2.server_version = CONTINUUM_VERSION;
  no.v2.codec_limits.max_json_depth = static_cast<size_t>(c.max_json_depth);
  no.v2.codec_limits.max_tensor_elements = c.max_elements;
  no.v2.max_decoded_body_bytes = so.max_body_bytes;  // a compressed body inflates to no more
  no.catalog_dir = c.catalog_dir;
  no.task_limits = c.task_limits;
  no.task_threads = static_cast<int>(c.task_threads);
  no.task_queue = static_cast<size_t>(std::max<int64_t>(1, c.task_queue));
  no.task_queue_bytes = c.task_queue_bytes;
  return no;
}

void LogEmulation(const ComputeEmulation& e) {
  if (!e.enabled()) return;
  char line[160];
  std::snprintf(line, sizeof line, "emulating compute: scale %.2f, stragglers %.4f x %.1f ms (seed %llu)",
                e.scale, e.straggler_fraction, e.straggler_ms, static_cast<unsigned long long>(e.seed));
  LogInfo(line);
}

// The filter chain decodes with the node's codec limits, and its cache asks the repository which
// version answers "latest" now.
filters::ChainOptions ChainFor(InferenceNode* node, const v2::CodecLimits& limits) {
  filters::ChainOptions co;
  co.metrics = &node->registry();
  co.codec_limits = limits;
  co.resolve_version = [node](std::string_view model) {
    auto v = node->repository().Get(std::string(model));
    return v.ok() ? std::to_string((*v)->version()) : std::string();
  };
  return co;
}

// The v2 gRPC listener on the HTTP listener's address, under the same limits and TLS; null when
// --grpc-port is negative.
StatusOr<std::unique_ptr<grpc_api::GrpcServer>> StartGrpc(int64_t port, const http::ServerOptions& so,
                                                          const v2::CodecLimits& limits,
                                                          InferenceNode& node) {
  if (port < 0) return std::unique_ptr<grpc_api::GrpcServer>();
  grpc_api::GrpcServerOptions go{.address = so.address,
                                 .port = static_cast<int>(port),
                                 .max_receive_message_bytes = so.max_body_bytes,
                                 .codec_limits = limits,
                                 .server_version = CONTINUUM_VERSION,
                                 // the HTTP listener's certificate and client policy
                                 .tls = so.tls ? so.tls->options() : tls::ServerTlsOptions{}};
  ASSIGN_OR_RETURN(auto grpc, grpc_api::StartGrpcServer(go, node));
  std::fprintf(stdout, "continuum serve: grpc listening on port %d\n", grpc->port());
  std::fflush(stdout);
  return grpc;
}

// The fleet agent in serve's process (--agent-hub): it calls the node's API in-process and runs on
// its own thread until Stop. An agent that cannot start (an unreadable key, a corrupt state file)
// stops serve, which then exits 1.
class InProcessAgent {
 public:
  void Start(AgentFlags& flags, const http::ServerOptions& so, uint16_t port, InferenceNode* node) {
    if (flags.hub.empty()) return;
    fleet::AgentOptions& o = flags.o;
    if (o.address.empty()) {  // serve listens on one address (CheckAgent): the gateway reaches it there
      const bool v6 = so.address.find(':') != std::string::npos;
      o.address = std::string(so.tls ? "https://" : "http://") + (v6 ? "[" + so.address + "]" : so.address) +
                  ":" + std::to_string(port);
    }
    o.serve_handler = [node](http::Request&& r, http::Responder w) {
      node->Handle(std::move(r), std::move(w));
    };
    agent_ = std::make_unique<fleet::Agent>(o);
    thread_ = std::thread([this] {
      if (Status st = agent_->Run(); !st.ok()) {
        failed_ = true;
        LogError("agent: " + st.message());
        ::kill(::getpid(), SIGTERM);  // the stop signal is blocked in every thread: serve's wait takes it
      }
    });
  }
  void Stop() {
    if (!agent_) return;
    agent_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  bool failed() const { return failed_; }
  ~InProcessAgent() { Stop(); }

 private:
  std::unique_ptr<fleet::Agent> agent_;
  std::thread thread_;
  std::atomic<bool> failed_{false};
};

}  // namespace

int Serve(const std::vector<std::string>& args) {
  ServeConfig c;
  http::ServerOptions so;
  InferenceNodeOptions no;
  if (std::optional<int> code = ParseServeArgs(args, &c, &so, &no)) return *code;
  LogEmulation(no.repository.emulation);
  const v2::CodecLimits codec_limits = no.v2.codec_limits;  // the filters and gRPC decode with the same

  StopSignals signals;  // before any thread starts
  // The node itself (engine, repository, v2 and task APIs); models load after the listener is up.
  auto created = InferenceNode::Create(std::move(no));
  if (!created.ok()) {
    LogError(created.status().message());
    return 1;
  }
  std::unique_ptr<InferenceNode> node = std::move(created).value();
  LogInfo("ONNX Runtime " + runtime::Engine::OrtVersion() + ", one shared pool of " +
          std::to_string(node->engine().intra_op_threads()) + " intra-op threads");

  // The listener comes up first so liveness answers while models load; readiness follows.
  InferenceNode* n = node.get();
  auto listener = StartListener(
      kCommand, "", so, [n](http::Request&& r, http::Responder w) { n->Handle(std::move(r), std::move(w)); },
      c.filters, ChainFor(n, codec_limits));
  if (!listener.ok()) {
    LogError(listener.status().message());
    return 1;
  }
  auto grpc = StartGrpc(c.grpc_port, so, codec_limits, *node);  // stopped before the node goes
  if (!grpc.ok()) {
    LogError(grpc.status().message());
    return 1;
  }
  if (Status st = node->Start(); !st.ok()) {
    LogError(st.message());
    return 1;
  }
  LogInfo(node->Ready() ? "ready" : "started, but some models failed to load (see the repository index)");
  InProcessAgent agent;
  agent.Start(c.agent, so, (*listener)->server->port(), n);

  // Stop the agent (an install in progress finishes), refuse new work, drain (queued requests are
  // answered while connections stay open), then close.
  grpc_api::GrpcServer* g = grpc->get();
  WaitThenShutDown(signals, {[&agent] { agent.Stop(); },
                             [g] {
                               if (g) g->BeginShutdown();
                             },
                             [n] { n->Shutdown(); },  // running tasks finish (their tensors are still served)
                             [g] {
                               if (g) g->Stop();
                             },
                             [&] { (*listener)->Stop(); }});
  return agent.failed() ? 1 : 0;
}

}  // namespace continuum::cli
