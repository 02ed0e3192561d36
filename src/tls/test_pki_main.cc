// tls_test_pki DIR: writes the test PKI (tls/test_pki.h) for the end-to-end tests and benchmarks.
#include <cstdio>

#include "tls/test_pki.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tls_test_pki DIR\n");
    return 2;
  }
  const auto status = continuum::tls::testing::WriteTestPki(argv[1]);
  if (!status.ok()) {
    std::fprintf(stderr, "tls_test_pki: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
