// `continuum` — one binary, several roles, chosen by subcommand.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "runtime/runtime.h"

namespace {

void Usage() {
  std::fprintf(
      stderr,
      "usage: continuum <command> [flags]\n\n"
      "commands:\n"
      "  serve     run an inference node (KServe v2 REST API) on a model repository\n"
      "  gateway   route inference requests to device/edge/cloud nodes (topology, residency, fallback, "
      "hedging)\n"
      "  run       run a catalog task (OCR, VAD, embeddings, ...) in-process or against a server\n"
      "  import    add a Hugging Face-style ONNX export folder to a repository and catalog\n"
      "  decisions verify a gateway decision log's hash chain\n"
      "  pack      pack a repository model folder as a ModelPack OCI artifact into an OCI image layout\n"
      "  install   verify a package in an OCI image layout and install it into a model repository\n"
      "  inspect   print a package's files and variants, and which variant this node would install\n"
      "  push      push a package from an OCI image layout to an OCI registry\n"
      "  pull      pull a package from an OCI registry into an OCI image layout\n"
      "  generate-key-pair  write a cosign-compatible ECDSA P-256 key pair (cosign.key, cosign.pub)\n"
      "  sign      sign a package in an OCI image layout as cosign does (sha256-<digest>.sig tag)\n"
      "  verify    check a package's cosign signature offline with a public key\n"
      "  hub       run the fleet's control plane (inventory, deployments, rollouts, dashboard); "
      "`hub apply|plan|delete` talk to one\n"
      "  agent     keep this node's model repository as the fleet hub wants it (beside serve)\n"
      "  linkemu   relay TCP through an emulated network link (delay, jitter, bandwidth, loss, partition)\n"
      "  version   print versions\n\n"
      "`continuum <command> --help` lists a command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "serve") return continuum::cli::Serve(args);
  if (cmd == "run") return continuum::cli::Run(args);
  if (cmd == "import") return continuum::cli::Import(args);
  if (cmd == "linkemu") return continuum::cli::LinkEmu(args);
  if (cmd == "gateway") return continuum::cli::Gateway(args);
  if (cmd == "decisions") return continuum::cli::Decisions(args);
  if (cmd == "pack") return continuum::cli::Pack(args);
  if (cmd == "install") return continuum::cli::Install(args);
  if (cmd == "inspect") return continuum::cli::Inspect(args);
  if (cmd == "push") return continuum::cli::Push(args);
  if (cmd == "pull") return continuum::cli::Pull(args);
  if (cmd == "generate-key-pair") return continuum::cli::GenerateKeyPair(args);
  if (cmd == "sign") return continuum::cli::Sign(args);
  if (cmd == "verify") return continuum::cli::Verify(args);
  if (cmd == "hub") return continuum::cli::Hub(args);
  if (cmd == "agent") return continuum::cli::Agent(args);
  if (cmd == "version" || cmd == "--version") {
    std::printf("continuum %s (ONNX Runtime %s)\n", CONTINUUM_VERSION,
                continuum::runtime::Engine::OrtVersion().c_str());
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    Usage();
    return 0;
  }
  std::fprintf(stderr, "continuum: unknown command '%s'\n\n", cmd.c_str());
  Usage();
  return 2;
}
