// Cross-origin resource sharing for browser clients: off unless origins are configured (--cors-origin), and then
// only for those origins (or any, with "*"). Without origins no CORS header is ever sent, so browsers keep the
// same-origin policy.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class CorsPolicy {
 public:
  // Origins as browsers send them ("https://app.example.com", scheme and host and port, no path), or "*".
  // Error (kInvalidArgument) for an empty one or one with a path.
  explicit CorsPolicy(std::vector<std::string> origins);

  bool enabled() const { return any_ || !origins_.empty(); }
  bool allows(std::string_view origin) const;

  // Headers for an actual response to a request with this Origin (none when CORS is off; `Vary: Origin` alone
  // when the origin is not allowed).
  HeaderList response_headers(std::string_view origin) const;
  // Headers for a preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin: the allowed
  // methods, the headers asked for in Access-Control-Request-Headers (browser clients such as openai's send
  // their own x-stainless-* headers, and Authorization must be named explicitly), a max age.
  HeaderList preflight_headers(std::string_view origin, std::string_view requested_headers) const;

  static constexpr int kMaxAgeSeconds = 600;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace hearth::server
