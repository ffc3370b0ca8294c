#include "server/api_error.h"

namespace hearth::server {

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kUnsupported:
      return 400;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kCorruptData:
      return 500;
    case ErrorKind::kResourceExhausted:
      return 503;
    case ErrorKind::kBusy:
      return 429;
    case ErrorKind::kCancelled:
      return 503;
  }
  return 500;
}

const char* error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

nlohmann::ordered_json error_body(const std::string& message, int status, const std::string& param,
                                  const std::string& code) {
  nlohmann::ordered_json e;
  e["message"] = message;
  e["type"] = error_type(status);
  e["param"] = param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(param);
  e["code"] = code.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(code);
  return {{"error", e}};
}

}  // namespace hearth::server
