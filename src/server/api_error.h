// Errors as the OpenAI API reports them: {"error": {"message", "type", "param", "code"}} with an HTTP status.
//
// The status comes from what failed, never from the message text: an ApiError carries the status chosen where
// the server itself rejects a request (a bad field, an unknown model, a prompt longer than the context), and
// any other hearth::Error is mapped by its ErrorKind (http_status below).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"

namespace hearth::server {

class ApiError : public Error {
 public:
  // `param`: the request field at fault ("" if none); `code`: OpenAI's machine-readable code ("" if none).
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "",
           ErrorKind kind = ErrorKind::kInvalidArgument)
      : Error(message, kind), status_(status), param_(std::move(param)), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string param_, code_;
};

// The HTTP status of an error kind that reached the server from below it:
//   invalid argument, unsupported → 400; not found → 404; corrupt data → 500;
//   resource exhausted → 503 (memory or cache room ran out: the request may succeed later; a prompt too long for
//   the context is caught before submission and answered 400 with code context_length_exceeded);
//   busy → 429 (with Retry-After); cancelled → 503 (the server is shutting down; a client that went away never
//   reads its status).
int http_status(ErrorKind kind);

// OpenAI's error "type" for a status: invalid_request_error (4xx), authentication_error (401),
// rate_limit_error (429), server_error (5xx).
const char* error_type(int status);

// The error body.
nlohmann::ordered_json error_body(const std::string& message, int status, const std::string& param = "",
                                  const std::string& code = "");

}  // namespace hearth::server
