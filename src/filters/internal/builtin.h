// Factories of the built-in filters, one per file, registered by FilterRegistry::BuiltIn.
#pragma once

#include <memory>
#include <string_view>

#include "filters/filters.h"

namespace continuum::filters {

StatusOr<std::unique_ptr<Filter>> MakeAuthFilter(std::string_view settings, FilterEnv& env);
StatusOr<std::unique_ptr<Filter>> MakeRateLimitFilter(std::string_view settings, FilterEnv& env);
StatusOr<std::unique_ptr<Filter>> MakeCacheFilter(std::string_view settings, FilterEnv& env);
StatusOr<std::unique_ptr<Filter>> MakeRetryFilter(std::string_view settings, FilterEnv& env);
StatusOr<std::unique_ptr<Filter>> MakeMeteringFilter(std::string_view settings, FilterEnv& env);
StatusOr<std::unique_ptr<Filter>> MakeRequestLogFilter(std::string_view settings, FilterEnv& env);

// The routes auth lets through without a key unless its `public_routes` says otherwise (the
// health probes).
const std::vector<std::string>& DefaultPublicRoutes();

// Fills route, model and version of a context from the request path (and, for the OpenAI routes,
// the body's "model"). A model name or version longer than `max_name_bytes` is refused
// (InvalidArgument naming where it came from), before anything keeps it.
Status ClassifyRequest(const http::Request& req, RequestContext* ctx,
                       size_t max_name_bytes = kDefaultMaxModelNameBytes);

}  // namespace continuum::filters
