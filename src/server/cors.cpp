#include "server/cors.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace hearth::server {

CorsPolicy::CorsPolicy(std::vector<std::string> origins) {
  for (std::string& o : origins) {
    while (!o.empty() && o.back() == '/') o.pop_back();  // "https://a.example/" is the origin "https://a.example"
    if (o.empty()) fail("a CORS origin must not be empty (use '*' for any origin)");
    if (o == "*") {
      any_ = true;
      continue;
    }
    const size_t scheme = o.find("://");
    if (scheme == std::string::npos || o.find('/', scheme + 3) != std::string::npos)
      fail("the CORS origin '{}' must be scheme://host[:port] (no path), or '*'", o);
    origins_.push_back(o);
  }
}

bool CorsPolicy::allows(std::string_view origin) const {
  if (origin.empty()) return false;
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

HeaderList CorsPolicy::response_headers(std::string_view origin) const {
  if (!enabled()) return {};
  HeaderList h;
  // The answer depends on the Origin header whenever it is not "*" for everyone: caches must keep them apart.
  if (!any_) h.emplace_back("Vary", "Origin");
  if (!allows(origin)) return h;
  h.emplace_back("Access-Control-Allow-Origin", any_ ? "*" : std::string(origin));
  h.emplace_back("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
  return h;
}

HeaderList CorsPolicy::preflight_headers(std::string_view origin, std::string_view requested) const {
  HeaderList h = response_headers(origin);
  if (!allows(origin)) return h;
  h.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
  // The requested header names, checked to be tokens (a header value is the client's, never copied blindly).
  std::string names;
  bool ok = requested.size() <= 2048;
  for (char c : requested)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ',' || c == ' ')) ok = false;
  names = ok && !requested.empty() ? std::string(requested) : "Authorization, Content-Type, X-Request-Id, X-Priority";
  h.emplace_back("Access-Control-Allow-Headers", names);
  h.emplace_back("Access-Control-Max-Age", std::to_string(kMaxAgeSeconds));
  return h;
}

}  // namespace hearth::server
