// `continuum run MODEL INPUT...`: runs a catalog task in-process (on a local repository and
// catalog) or against a server (--url), and prints the answer readably (--json: raw). Both ways
// send the same /ai/run request through the same code the gateway forwards with
// (gateway::SendToNode over http::Client): in-process to an InferenceNode, as `serve` builds one,
// whose task API answers in its own envelope.
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/flags.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "gateway/dispatcher.h"
#include "http/client.h"
#include "node/inference_node.h"
#include "tls/client_context.h"

namespace continuum::cli {

namespace fs = std::filesystem;

namespace {

struct RunOptions {
  std::string url, repo_dir, catalog_dir;
  tls::ClientTlsOptions tls;  // an https:// --url: --cacert, --cert, --key
  std::string model;
  std::vector<std::string> texts;
  std::string binary;  // the bytes of the file named, if any
  bool json = false;
  int64_t threads = 0;
  int64_t timeout_ms = 300'000;
};

// Flags anywhere among the positional arguments (MODEL, then files and texts). Returns the exit
// code when the command ends here (--help, a usage error).
std::optional<int> ParseRunArgs(const std::vector<std::string>& args, RunOptions* o) {
  Flags f;
  f.String("url", &o->url,
           "run against a server (http://host:port or https://host:port) instead of in-process");
  f.String("cacert", &o->tls.ca_file,
           "https: the CA bundle (PEM) the server's certificate must chain to "
           "(default: the system trust store)");
  f.String("cert", &o->tls.cert_file, "https: a client certificate (PEM) for a server that asks for one");
  f.String("key", &o->tls.key_file, "https: the client certificate's private key (PEM)");
  f.String("model-repository", &o->repo_dir, "in-process: the model repository");
  f.String("catalog", &o->catalog_dir, "in-process: the task catalog");
  f.List("text", &o->texts,
         "a text input (repeatable); plain arguments that are not files count as text too");
  f.Int("intra-op-threads", &o->threads, "in-process: ONNX Runtime threads (0: one per core)");
  f.Int("timeout-ms", &o->timeout_ms, "longest wait for the answer, in-process or from the server");
  f.Bool("json", &o->json, "print the raw JSON answer");
  std::vector<std::string> flag_args, positional;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      flag_args.push_back(args[i]);
      bool boolean = args[i] == "--json" || args[i] == "--help" || args[i].find('=') != std::string::npos;
      if (!boolean && i + 1 < args.size()) flag_args.push_back(args[++i]);
    } else {
      positional.push_back(args[i]);
    }
  }
  const std::string usage =
      "usage: continuum run MODEL [FILE | TEXT...] [--url URL | --model-repository DIR --catalog DIR]";
  if (auto code = f.ParseOrExplain("run", usage, flag_args)) return code;
  if (positional.empty()) {
    f.Explain("run", usage, Status::Ok());
    return 2;
  }
  if (o->url.empty() && (o->repo_dir.empty() || o->catalog_dir.empty())) {
    std::fprintf(stderr,
                 "continuum run: give --url, or --model-repository and --catalog to run in-process\n");
    return 2;
  }
  const bool tls_flags = !o->tls.ca_file.empty() || !o->tls.cert_file.empty() || !o->tls.key_file.empty();
  if (tls_flags && o->url.rfind("https://", 0) != 0) {
    std::fprintf(stderr, "continuum run: --cacert, --cert and --key need an https:// --url\n");
    return 2;
  }
  if (o->timeout_ms < 1 || o->threads < 0) {
    std::fprintf(stderr, "continuum run: a numeric flag is out of range (see --help)\n");
    return 2;
  }
  o->model = positional[0];
  for (size_t i = 1; i < positional.size(); ++i) {
    std::error_code ec;
    if (fs::is_regular_file(positional[i], ec)) {
      std::ifstream in(positional[i], std::ios::binary);
      o->binary.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    } else {
      o->texts.push_back(positional[i]);
    }
  }
  return std::nullopt;
}

// POST /ai/run/MODEL: the file's bytes as they are, else {"text": "..."} ({"text": [...]} for
// several texts).
http::ClientRequest TaskRunRequest(const RunOptions& o) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/ai/run/" + o.model;
  if (!o.binary.empty()) {
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.body = o.binary;
    return req;
  }
  req.headers.emplace_back("Content-Type", "application/json");
  JsonWriter w(&req.body);
  w.BeginObject().Key("text");
  if (o.texts.size() == 1) {
    w.String(o.texts[0]);
  } else {
    w.BeginArray();
    for (const auto& t : o.texts) w.String(t);
    w.EndArray();
  }
  w.EndObject();
  return req;
}

// --url as http::Client takes it: "host:port" means http://host:port; a URL with a scheme is kept
// as given (one the client does not speak is refused by it, named).
std::string ServerUrl(const std::string& url) {
  return url.find("://") != std::string::npos ? url : "http://" + url;
}

// The node `serve` would run, in this process, with only the models the entry needs loaded.
StatusOr<std::unique_ptr<InferenceNode>> StartLocalNode(const RunOptions& o) {
  SetLogLevel(LogLevel::kWarning);
  InferenceNodeOptions no;
  no.engine.intra_op_threads = static_cast<int>(o.threads);
  no.repository.root = o.repo_dir;
  no.repository.mode = ModelControlMode::kExplicit;
  no.catalog_dir = o.catalog_dir;
  no.process_metrics = false;
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceNode> node, InferenceNode::Create(std::move(no)));
  RETURN_IF_ERROR(node->Start());
  // An unknown or broken entry loads nothing: the task API answers for it.
  if (const tasks::Catalog::Item* item = node->catalog().Find(o.model); item && item->task)
    for (const auto& [role, model] : item->entry.models) RETURN_IF_ERROR(node->repository().Load(model));
  return node;
}

// The answer's body, from the server or the in-process node.
StatusOr<std::string> Exchange(const RunOptions& o) {
  std::unique_ptr<InferenceNode> node;  // outlives the client and the endpoint below
  std::string url = "local://";
  if (o.url.empty()) {
    ASSIGN_OR_RETURN(node, StartLocalNode(o));
  } else {
    url = ServerUrl(o.url);
  }
  http::ClientOptions co;
  if (url.rfind("https://", 0) == 0) {
    auto tls = tls::ClientContext::Create(o.tls);
    if (!tls.ok()) return tls.status();
    co.tls = std::move(tls).value();
  }
  http::Client client(std::move(co));
  std::unique_ptr<gateway::LocalEndpoint> local;
  if (node) {
    InferenceNode* n = node.get();
    local = std::make_unique<gateway::LocalEndpoint>(
        &client, [n](http::Request&& r, http::Responder w) { n->Handle(std::move(r), std::move(w)); });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  auto answer = http::AwaitCall(client, [&](http::ClientCallback done) {
    return gateway::SendToNode(&client, local.get(), url, TaskRunRequest(o), deadline, std::move(done));
  });
  if (local) local->Detach();
  if (!answer.ok()) {
    if (node) return answer.status();
    return Status(answer.status().code(), "cannot reach " + o.url + ": " + answer.status().message());
  }
  return std::move(answer->body);
}

void PrintIndented(simdjson::dom::element e, int indent, std::string& out) {
  using simdjson::dom::element_type;
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  switch (e.type()) {
    case element_type::OBJECT: {
      simdjson::dom::object o = e.get_object().value_unsafe();
      for (auto [k, v] : o) {
        out += pad + std::string(k) + ":";
        if (v.is_object() ||
            (v.is_array() && v.get_array().value_unsafe().size() > 0 && !v.at(0).is_number())) {
          out += "\n";
          PrintIndented(v, indent + 1, out);
        } else {
          out += " ";
          PrintIndented(v, 0, out);
        }
      }
      break;
    }
    case element_type::ARRAY: {
      simdjson::dom::array a = e.get_array().value_unsafe();
      bool scalars = true;
      for (auto x : a) scalars = scalars && !x.is_object() && !x.is_array();
      if (scalars) {
        std::string line = simdjson::minify(e);
        if (line.size() > 160) line = line.substr(0, 157) + "...";
        out += pad + line + "\n";
        break;
      }
      size_t i = 0;
      for (auto x : a) {
        out += pad + "- [" + std::to_string(i++) + "]\n";
        PrintIndented(x, indent + 1, out);
      }
      break;
    }
    case element_type::STRING: out += pad + std::string(e.get_string().value_unsafe()) + "\n"; break;
    default: out += pad + simdjson::minify(e) + "\n";
  }
}

// Prints the envelope: raw with --json, else its result (or its errors, on stderr) readably.
// Returns the exit code.
int PrintAnswer(const std::string& answer, bool json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (json || parser.parse(answer).get(root)) {
    std::printf("%s\n", answer.c_str());
    return 0;
  }
  bool ok = false;
  if (root["success"].get_bool().get(ok)) ok = false;
  std::string out;
  simdjson::dom::element part;
  if (ok && !root["result"].get(part)) {
    PrintIndented(part, 0, out);
  } else if (!root["errors"].get(part)) {
    out = "error: ";
    PrintIndented(part, 0, out);
  }
  std::fputs(out.c_str(), ok ? stdout : stderr);
  return ok ? 0 : 1;
}

}  // namespace

int Run(const std::vector<std::string>& args) {
  RunOptions o;
  if (std::optional<int> code = ParseRunArgs(args, &o)) return *code;
  auto answer = Exchange(o);
  if (!answer.ok()) return PrintError("run", answer.status(), 1);
  return PrintAnswer(*answer, o.json);
}

}  // namespace continuum::cli
