// What may be written on the wire of HTTP/1.1: request targets, methods, header names and values.
// The server applies these rules to what it reads and writes, the gateway's upstream client to
// every request it writes, and in-process entry points (libcontinuum) to what they are given: a
// CR, LF or NUL in any of them would end a line where the sender did not mean one, and a request
// that cannot be written safely is refused, never sent.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace continuum::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// An RFC 9110 token (1*tchar): what a header name or a method must be.
bool IsToken(std::string_view s);

// A field value that fits on one header line: no control character (C0, DEL) but HTAB.
bool IsFieldValue(std::string_view s);

// A request target that fits in a request line: not empty, no control character (C0, DEL) and
// no space. Percent-escapes are not decoded: "%0d%0a" is six harmless characters.
bool IsRequestTarget(std::string_view s);

// OK, or InvalidArgument saying which part of a header is wrong and where.
Status CheckHeader(std::string_view name, std::string_view value);

// OK, or InvalidArgument naming the first part of the head (method, target, a header) that
// cannot be written as it is.
Status CheckRequestHead(std::string_view method, std::string_view target, const HeaderList& headers);

// Splits a raw request target as the server does (origin-form, absolute-form, "*") into a
// percent-decoded path and the raw query; false when it is malformed or holds a control character.
bool SplitTarget(std::string_view target, std::string& path, std::string& query);

// A decoded path made fit for a request line again: every byte but unreserved characters,
// sub-delims, ':', '@' and '/' is percent-encoded.
std::string EncodePath(std::string_view path);

}  // namespace continuum::http
