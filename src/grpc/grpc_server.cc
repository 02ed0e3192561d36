#include "grpc/grpc_server.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/node_report.h"
#include "grpc/grpc_codec.h"
#include "grpc/grpc_status_map.h"
#include "grpc/grpc_tls.h"
#include "inference_service.grpc.pb.h"

namespace continuum::grpc_api {
namespace {

using ::grpc::CallbackServerContext;
using ::grpc::ServerUnaryReactor;

// How long Stop lets open calls finish before it cancels them.
constexpr auto kStopGrace = std::chrono::seconds(5);

void FillTensorMetadata(
    const std::vector<runtime::TensorSpec>& specs,
    google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const auto& s : specs) {
    auto* m = out->Add();
    m->set_name(s.name);
    m->set_datatype(std::string(DataTypeName(s.dtype)));
    for (int64_t d : s.shape) m->add_shape(d);
  }
}

// Triton's TYPE_* for a datatype: the v2 name with the prefix, BYTES being TYPE_STRING.
inference::DataType ConfigDataType(DataType dtype) {
  std::string name = dtype == DataType::kBytes ? "STRING" : std::string(DataTypeName(dtype));
  inference::DataType out = inference::TYPE_INVALID;
  inference::DataType_Parse("TYPE_" + name, &out);
  return out;
}

// The config's dims leave out the batch dimension of a batchable model, as Triton's do.
template <typename Tensor>
void FillConfigTensors(const std::vector<runtime::TensorSpec>& specs, bool batchable,
                       google::protobuf::RepeatedPtrField<Tensor>* out) {
  for (const auto& s : specs) {
    auto* t = out->Add();
    t->set_name(s.name);
    t->set_data_type(ConfigDataType(s.dtype));
    for (size_t i = batchable ? 1 : 0; i < s.shape.size(); ++i) t->add_dims(s.shape[i]);
  }
}

// ModelInfer's reactor: a call the client cancels (or whose deadline passes) cancels its queued
// request, which the scheduler then drops unrun; Finish still ends the call.
class InferReactor final : public ServerUnaryReactor {
 public:
  InferReactor() : cancel_(CancelToken::Make()) {}
  const CancelToken& cancel() const { return cancel_; }
  void OnCancel() override { cancel_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  const CancelToken cancel_;
};

class Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(const GrpcServerOptions& options, InferenceNode& node)
      : options_(options), repository_(node.repository()) {}

  void BeginShutdown() { shutting_down_.store(true); }

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                 inference::ServerLiveResponse* resp) override {
    resp->set_live(true);
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                  inference::ServerReadyResponse* resp) override {
    resp->set_ready(!shutting_down_.load() && repository_.Ready());
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                 inference::ModelReadyResponse* resp) override {
    StatusOr<int64_t> version = ParseModelVersion(req->version());
    if (!version.ok()) return Done(ctx, version.status());
    auto mv = repository_.Get(req->name(), *version);
    if (!mv.ok()) {
      // A known model whose version is not ready is {ready: false}; an unknown one NOT_FOUND.
      bool known = false;
      for (const auto& e : repository_.Index(false)) known = known || e.name == req->name();
      if (!known) return Done(ctx, mv.status());
    }
    resp->set_ready(mv.ok());
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                     inference::ServerMetadataResponse* resp) override {
    resp->set_name(options_.server_name);
    resp->set_version(options_.server_version);
    resp->add_extensions("model_repository");
    resp->add_extensions("statistics");
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                    inference::ModelMetadataResponse* resp) override {
    int64_t version = 0;
    auto mv = Lookup(req->name(), req->version(), &version);
    if (!mv.ok()) return Done(ctx, mv.status());
    resp->set_name(req->name());
    if (version > 0) {
      resp->add_versions(std::to_string(version));
    } else {
      for (const auto& v : repository_.ReadyVersions(req->name()))
        resp->add_versions(std::to_string(v->version()));
    }
    resp->set_platform("onnxruntime_onnx");
    FillTensorMetadata((*mv)->signature().inputs, resp->mutable_inputs());
    FillTensorMetadata((*mv)->signature().outputs, resp->mutable_outputs());
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                  inference::ModelConfigResponse* resp) override {
    auto mv = Lookup(req->name(), req->version());
    if (!mv.ok()) return Done(ctx, mv.status());
    const continuum::ModelConfig& config = (*mv)->config();
    const int64_t max_batch = config.max_batch_size.value_or(0);
    auto* out = resp->mutable_config();
    out->set_name(req->name());
    out->set_platform("onnxruntime_onnx");
    out->set_backend("onnxruntime");
    out->set_max_batch_size(static_cast<int32_t>(max_batch));
    FillConfigTensors((*mv)->signature().inputs, max_batch > 0, out->mutable_input());
    FillConfigTensors((*mv)->signature().outputs, max_batch > 0, out->mutable_output());
    if (config.dynamic_batching) {
      auto* db = out->mutable_dynamic_batching();
      for (int64_t b : config.dynamic_batching->preferred_batch_size)
        db->add_preferred_batch_size(static_cast<int32_t>(b));
      db->set_max_queue_delay_microseconds(config.dynamic_batching->max_queue_delay_microseconds.value_or(0));
    }
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                 inference::ModelInferResponse* resp) override {
    auto* reactor = new InferReactor();  // deletes itself when the call is done
    if (shutting_down_.load()) return Finish(reactor, Unavailable("the server is shutting down"));
    auto mv = Lookup(req->model_name(), req->model_version());
    if (!mv.ok()) return Finish(reactor, mv.status());

    // gRPC allocates the request message for this call and keeps it until the call finishes; it
    // is never read again by gRPC, so the decoder may move its raw tensor bytes out (the tensor
    // then holds the only copy while the request waits in the queue).
    auto* msg = const_cast<inference::ModelInferRequest*>(req);
    const bool raw = UsesRawContents(*msg);
    auto parsed = DecodeInferRequest(msg, options_.codec_limits);
    if (!parsed.ok()) {
      (*mv)->stats().RecordFailure(FailureReason::kRejected, 0);
      return Finish(reactor, parsed.status());
    }
    msg->Clear();
    parsed->cancel = reactor->cancel();
    // The callback runs on the version's scheduler thread; the context, the response message and
    // the reactor live until Finish. The version outlives its callbacks (it answers what it queued
    // before it goes away), so the callback may read its queue through a plain pointer.
    ModelVersion* version = mv->get();
    const auto enqueued = std::chrono::steady_clock::now();
    Status st = (*mv)->Infer(std::move(parsed).value(), [ctx, reactor, resp, raw, version,
                                                         enqueued](StatusOr<InferResponse> result) {
      if (!result.ok()) return reactor->Finish(ToGrpcStatus(result.status()));
      // The node report REST sends as headers, as initial metadata under the same names (sent with
      // the answer: nothing is sent before Finish).
      std::vector<std::pair<std::string, std::string>> report;
      AddNodeReport(&report, std::chrono::steady_clock::now() - enqueued, version->queued(),
                    std::chrono::nanoseconds(result->run_ns), result->batch_share);
      Status encoded = EncodeInferResponse(std::move(result).value(), raw, resp);
      if (!encoded.ok()) return reactor->Finish(ToGrpcStatus(encoded));
      for (auto& [name, value] : report) ctx->AddInitialMetadata(name, value);
      reactor->Finish(::grpc::Status::OK);
    });
    if (!st.ok()) reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }

  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx,
                                      const inference::ModelStatisticsRequest* req,
                                      inference::ModelStatisticsResponse* resp) override {
    StatusOr<int64_t> version = ParseModelVersion(req->version());
    if (!version.ok()) return Done(ctx, version.status());
    std::vector<std::shared_ptr<ModelVersion>> versions;
    if (req->name().empty()) {
      versions = repository_.AllReady();
    } else if (*version > 0) {
      auto mv = repository_.Get(req->name(), *version);
      if (!mv.ok()) return Done(ctx, mv.status());
      versions.push_back(*mv);
    } else {
      versions = repository_.ReadyVersions(req->name());
      if (versions.empty()) return Done(ctx, repository_.Get(req->name()).status());
    }
    // ModelStats writes the statistics extension's JSON, whose names are the proto's: one
    // source for both protocols.
    google::protobuf::util::JsonParseOptions json_options;
    json_options.ignore_unknown_fields = true;
    for (const auto& v : versions) {
      auto st = google::protobuf::util::JsonStringToMessage(v->stats().ToJson(), resp->add_model_stats(),
                                                            json_options);
      if (!st.ok()) return Done(ctx, Internal("statistics of " + v->stats().model() + ": " + st.ToString()));
    }
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx,
                                      const inference::RepositoryIndexRequest* req,
                                      inference::RepositoryIndexResponse* resp) override {
    for (const auto& e : repository_.Index(req->ready())) {
      auto* m = resp->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return Done(ctx, Status::Ok());
  }

  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx,
                                          const inference::RepositoryModelLoadRequest* req,
                                          inference::RepositoryModelLoadResponse*) override {
    if (!req->parameters().empty()) return Done(ctx, UnsupportedParameters(req->parameters().begin()->first));
    return Done(ctx, repository_.Load(req->model_name()));
  }

  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inference::RepositoryModelUnloadRequest* req,
                                            inference::RepositoryModelUnloadResponse*) override {
    // Models have no dependents here (no ensembles), so unload_dependents changes nothing.
    for (const auto& [name, value] : req->parameters()) {
      if (name != "unload_dependents") return Done(ctx, UnsupportedParameters(name));
    }
    return Done(ctx, repository_.Unload(req->model_name()));
  }

 private:
  // The version a request names by its model name and version string ("": the latest ready one);
  // the version string's error, or the repository's, otherwise. `number` gets the parsed version.
  StatusOr<std::shared_ptr<ModelVersion>> Lookup(const std::string& name, const std::string& version,
                                                 int64_t* number = nullptr) const {
    ASSIGN_OR_RETURN(int64_t v, ParseModelVersion(version));
    if (number) *number = v;
    return repository_.Get(name, v);
  }

  // A call's default reactor may be taken once (gRPC asserts it): Done takes it and finishes;
  // a handler that took it already finishes through Finish.
  static ServerUnaryReactor* Done(CallbackServerContext* ctx, const Status& status) {
    return Finish(ctx->DefaultReactor(), status);
  }
  static ServerUnaryReactor* Finish(ServerUnaryReactor* reactor, const Status& status) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }

  static Status UnsupportedParameters(const std::string& name) {
    return InvalidArgument("parameters: '" + name.substr(0, 64) +
                           "' is not supported (the model's config.json in the repository is its "
                           "configuration)");
  }

  const GrpcServerOptions options_;
  ModelRepository& repository_;
  std::atomic<bool> shutting_down_{false};
};

class GrpcServerImpl final : public GrpcServer {
 public:
  GrpcServerImpl(std::unique_ptr<Service> service, std::unique_ptr<::grpc::Server> server, int port)
      : service_(std::move(service)), server_(std::move(server)), port_(port) {}
  ~GrpcServerImpl() override { Stop(); }

  int port() const override { return port_; }
  void BeginShutdown() override { service_->BeginShutdown(); }
  void Stop() override {
    if (stopped_.exchange(true)) return;
    service_->BeginShutdown();
    server_->Shutdown(std::chrono::system_clock::now() + kStopGrace);
    server_->Wait();
  }

 private:
  std::unique_ptr<Service> service_;  // outlives the server
  std::unique_ptr<::grpc::Server> server_;
  int port_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

StatusOr<std::unique_ptr<GrpcServer>> StartGrpcServer(const GrpcServerOptions& options, InferenceNode& node) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("gRPC port " + std::to_string(options.port) + " is out of range");
  }
  if (options.max_receive_message_bytes < 1 || options.max_receive_message_bytes > INT32_MAX) {
    return InvalidArgument("gRPC max receive message size must be between 1 and 2147483647 bytes");
  }
  if (options.max_concurrent_streams < 1)
    return InvalidArgument("gRPC max concurrent streams must be at least 1");
  std::shared_ptr<::grpc::ServerCredentials> credentials = ::grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    ASSIGN_OR_RETURN(credentials, MakeGrpcServerCredentials(options.tls));
  }
  auto service = std::make_unique<Service>(options, node);
  ::grpc::ServerBuilder builder;
  int selected = 0;
  const std::string address = options.address.find(':') != std::string::npos && options.address.front() != '['
                                  ? "[" + options.address + "]"
                                  : options.address;
  builder.AddListeningPort(address + ":" + std::to_string(options.port), credentials, &selected);
  if (options.tls.enabled()) {
    builder.AddChannelArgument(
        GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
        static_cast<int>(std::min<int64_t>(options.tls.handshake_timeout.count(), INT32_MAX)));
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.RegisterService(service.get());
  std::unique_ptr<::grpc::Server> server = builder.BuildAndStart();
  if (!server || selected == 0) {
    return Unavailable("cannot listen for gRPC on " + options.address + ":" + std::to_string(options.port));
  }
  return std::unique_ptr<GrpcServer>(new GrpcServerImpl(std::move(service), std::move(server), selected));
}

}  // namespace continuum::grpc_api
