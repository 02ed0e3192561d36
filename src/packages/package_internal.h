// Shared by the files of the packages library; not part of its interface.
#pragma once

#include <string>
#include <vector>

#include "packages/package.h"

namespace continuum::packages {

// A blob whose bytes are `data`, with its digest and size.
Blob MemoryBlob(std::string media_type, std::string data);
// Sorts the layers by filepath, then builds the config blob and the manifest over them.
void FinishPackage(const PackOptions& options, Package* p);
std::string ConfigJson(const PackOptions& options, const std::vector<Blob>& layers);

}  // namespace continuum::packages
