// Splitting an http(s) URL into its parts, for the link checker. Not a full RFC 3986 parser: no userinfo,
// no IPv6 literals, which the links we check never contain.
#include <optional>
#include <string>
#include <string_view>

struct UrlParts {
  std::string scheme, host, path, query;
  int port = 0;
};

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "%20" -> " ", "+" stays "+" (it means a space only in form bodies). An invalid escape is kept literally.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(char(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::optional<UrlParts> split_url(std::string_view url) {
  UrlParts parts;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  parts.scheme = std::string(url.substr(0, scheme_end));
  if (parts.scheme != "http" && parts.scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(scheme_end + 3);
  const size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  const size_t path_begin = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_begin);
  std::string_view tail = path_begin == std::string_view::npos ? std::string_view() : rest.substr(path_begin);
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    parts.port = 0;
    for (char c : authority.substr(colon + 1)) {
      if (c < '0' || c > '9') return std::nullopt;
      parts.port = parts.port * 10 + (c - '0');
      if (parts.port > 65535) return std::nullopt;
    }
    authority = authority.substr(0, colon);
  } else {
    parts.port = parts.scheme == "https" ? 443 : 80;
  }
  if (authority.empty()) return std::nullopt;
  parts.host = std::string(authority);
  const size_t q = tail.find('?');
  parts.path = percent_decode(tail.substr(0, q));
  if (parts.path.empty()) parts.path = "/";
  if (q != std::string_view::npos) parts.query = std::string(tail.substr(q + 1));
  return parts;
}
