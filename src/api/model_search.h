// Workers AI's model search over the catalog: what `GET /ai/models/search` (also
// `/accounts/{account}/ai/models/search`, the route Cloudflare's clients call for
// `ai.models.list`) answers inside the Workers AI envelope.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "tasks/catalog.h"

namespace continuum {

// Page size when the request names none.
inline constexpr int64_t kDefaultModelSearchPerPage = 50;

struct ModelSearchPage {
  // [{"id", "name", "description", "task": {"id", "name", "description"},
  //   "properties": [{"property_id", "value"}]}], sorted by name.
  std::string result_json;
  // {"page", "per_page", "count" (on this page), "total_count" (matching, on every page)}.
  std::string result_info_json;
};

// `query` is the raw query string (percent-escapes and '+' are decoded here). Parameters:
//   task               a task's name ("Text Embeddings") or kind ("text-embeddings"), any case
//   search             case-insensitive substring of the model's name or description
//   author             the name's second segment ("@cf/{author}/...")
//   hide_experimental  true or false (no catalog entry is experimental)
//   page, per_page     integers from 1 (1 and kDefaultModelSearchPerPage); a page past the end
//                      is empty, which is where a client's pagination stops
// An unknown parameter or a malformed value is kInvalidArgument naming the parameter. The
// answer is bounded by the catalog, whatever the page size.
StatusOr<ModelSearchPage> SearchModels(const tasks::Catalog& catalog, std::string_view query);

// Workers AI's name for a task kind: "text-embeddings" -> "Text Embeddings", "ocr" -> "Optical
// Character Recognition".
std::string TaskDisplayName(std::string_view kind);

}  // namespace continuum
