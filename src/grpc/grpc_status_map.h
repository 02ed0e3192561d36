// The one place where a StatusCode becomes a gRPC status code (the gRPC twin of
// api/http_status.h). The message travels unchanged, so a gRPC client reads the same words a
// REST client gets in {"error": ...}.
#pragma once

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace continuum::grpc_api {

inline ::grpc::StatusCode GrpcCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return ::grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return ::grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kFailedPrecondition: return ::grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kNotFound: return ::grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists: return ::grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kPayloadTooLarge:
    case StatusCode::kResourceExhausted: return ::grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kUnimplemented: return ::grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kUnavailable: return ::grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kDeadlineExceeded: return ::grpc::StatusCode::DEADLINE_EXCEEDED;
    case StatusCode::kInternal: return ::grpc::StatusCode::INTERNAL;
    case StatusCode::kCancelled: return ::grpc::StatusCode::CANCELLED;
    case StatusCode::kAborted: return ::grpc::StatusCode::ABORTED;
  }
  return ::grpc::StatusCode::INTERNAL;
}

inline ::grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return ::grpc::Status::OK;
  return ::grpc::Status(GrpcCodeFor(status.code()), status.message());
}

}  // namespace continuum::grpc_api
