// `continuum run MODEL INPUT...`: runs a catalog task in-process (on a local repository and
// catalog) or against a server (--url), and prints the answer readably (--json: raw).
#include <simdjson.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/catalog.h"
#include "tasks/runner.h"

namespace continuum::cli {

namespace fs = std::filesystem;
namespace beast = boost::beast;

namespace {

// POSTs to URL/ai/run/MODEL; returns the response body.
StatusOr<std::string> PostToServer(const std::string& url, const std::string& target, const std::string& body,
                                   const std::string& content_type) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.rfind("https://", 0) == 0) return InvalidArgument("--url: https is not supported; use http://");
  std::string base_path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
    if (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  }
  std::string host = rest, port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  try {
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(300));
    stream.connect(resolver.resolve(host, port));
    beast::http::request<beast::http::string_body> req{beast::http::verb::post, base_path + target, 11};
    req.set(beast::http::field::host, host);
    req.set(beast::http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    beast::http::write(stream, req);
    beast::flat_buffer buffer;
    beast::http::response_parser<beast::http::string_body> parser;
    parser.body_limit(256u << 20);
    beast::http::read(stream, buffer, parser);
    beast::error_code ec;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    return parser.get().body();
  } catch (const std::exception& e) {
    return Unavailable("cannot reach " + url + ": " + e.what());
  }
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

}  // namespace

int Run(const std::vector<std::string>& args) {
  std::string url, repo_dir, catalog_dir;
  std::vector<std::string> texts;
  bool json = false, help = false;
  int64_t threads = 0;
  std::vector<std::string> positional;
  Flags f;
  f.String("url", &url, "run against a server (http://host:port) instead of in-process");
  f.String("model-repository", &repo_dir, "in-process: the model repository");
  f.String("catalog", &catalog_dir, "in-process: the task catalog");
  f.List("text", &texts, "a text input (repeatable); plain arguments that are not files count as text too");
  f.Int("intra-op-threads", &threads, "in-process: ONNX Runtime threads (0: one per core)");
  f.Bool("json", &json, "print the raw JSON answer");
  f.Bool("help", &help, "show this help");
  std::vector<std::string> flag_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) == 0) {
      flag_args.push_back(args[i]);
      bool boolean = args[i] == "--json" || args[i] == "--help" || args[i].find('=') != std::string::npos;
      if (!boolean && i + 1 < args.size()) flag_args.push_back(args[++i]);
    } else {
      positional.push_back(args[i]);
    }
  }
  Status st = f.Parse(flag_args);
  if (!st.ok() || help || positional.empty()) {
    if (!st.ok()) std::fprintf(stderr, "continuum run: %s\n\n", st.message().c_str());
    std::fprintf(stderr,
                 "usage: continuum run MODEL [FILE | TEXT...] [--url URL | --model-repository DIR --catalog "
                 "DIR]\n\n%s",
                 f.Usage().c_str());
    return help ? 0 : 2;
  }
  const std::string model = positional[0];
  std::string binary;
  for (size_t i = 1; i < positional.size(); ++i) {
    std::error_code ec;
    if (fs::is_regular_file(positional[i], ec)) {
      std::ifstream in(positional[i], std::ios::binary);
      binary.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    } else {
      texts.push_back(positional[i]);
    }
  }
  std::string answer;
  if (!url.empty()) {
    std::string body, ctype = "application/octet-stream";
    if (binary.empty()) {
      ctype = "application/json";
      JsonWriter w(&body);
      w.BeginObject().Key("text");
      if (texts.size() == 1) {
        w.String(texts[0]);
      } else {
        w.BeginArray();
        for (const auto& t : texts) w.String(t);
        w.EndArray();
      }
      w.EndObject();
    } else {
      body = binary;
    }
    auto r = PostToServer(url, "/ai/run/" + model, body, ctype);
    if (!r.ok()) {
      std::fprintf(stderr, "continuum run: %s\n", r.status().message().c_str());
      return 1;
    }
    answer = std::move(r).value();
  } else {
    if (repo_dir.empty() || catalog_dir.empty()) {
      std::fprintf(stderr,
                   "continuum run: give --url, or --model-repository and --catalog to run in-process\n");
      return 2;
    }
    SetLogLevel(LogLevel::kWarning);
    auto engine = runtime::Engine::Create({.intra_op_threads = static_cast<int>(threads)});
    if (!engine.ok()) {
      std::fprintf(stderr, "continuum run: %s\n", engine.status().message().c_str());
      return 1;
    }
    tasks::TaskLimits limits;
    auto catalog = tasks::Catalog::Load(catalog_dir, tasks::TaskRegistry::BuiltIn(), limits);
    if (!catalog.ok()) {
      std::fprintf(stderr, "continuum run: %s\n", catalog.status().message().c_str());
      return 1;
    }
    const tasks::Catalog::Item* item = (*catalog)->Find(model);
    if (!item || !item->task) {
      std::fprintf(stderr, "continuum run: %s\n",
                   item ? item->error.c_str() : ("unknown model '" + model + "' in " + catalog_dir).c_str());
      return 1;
    }
    // Load only what this entry needs.
    RepositoryOptions ro;
    ro.root = repo_dir;
    ro.mode = ModelControlMode::kExplicit;
    for (const auto& [role, m] : item->entry.models) ro.startup_models.push_back(m);
    ModelRepository repository(ro, engine->get(), nullptr);
    if (Status s = repository.Start(); !s.ok()) {
      std::fprintf(stderr, "continuum run: %s\n", s.message().c_str());
      return 1;
    }
    tasks::RepositoryRunner runner(&repository);
    tasks::TaskRequest request;
    request.binary = std::move(binary);
    request.texts = texts;
    request.texts_is_array = texts.size() > 1;
    auto result = item->task->Run(request, runner);
    JsonWriter w(&answer);
    w.BeginObject().Key("result");
    if (result.ok()) {
      w.Raw(result->result_json);
    } else {
      w.Null();
    }
    w.Key("success").Bool(result.ok()).Key("errors").BeginArray();
    if (!result.ok()) w.BeginObject().Key("message").String(result.status().message()).EndObject();
    w.EndArray().Key("messages").BeginArray().EndArray().EndObject();
  }
  if (json) {
    std::printf("%s\n", answer.c_str());
  } else {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(answer).get(root)) {
      std::printf("%s\n", answer.c_str());
    } else {
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
  }
  return 0;
}

}  // namespace continuum::cli
