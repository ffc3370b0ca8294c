#include "server/web_ui.h"

#include <httplib.h>

#include <cctype>
#include <string>

namespace hearth::server {
namespace {

std::string_view content_type_of(std::string_view name) {
  const size_t dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "json") return "application/json";
  if (ext == "png") return "image/png";
  return "application/octet-stream";
}

// httplib's routes are regular expressions; the files' names are plain.
std::string route_of(std::string_view name) {
  std::string route = "/";
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) route += '\\';
    route += c;
  }
  return route;
}

constexpr std::string_view kIndex = "index.html";

}  // namespace

std::optional<WebPage> web_page(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::nullopt;
  const std::string_view name = path == "/" ? kIndex : path.substr(1);
  for (const WebAsset& a : web_assets())
    if (a.name == name) return WebPage{a.bytes, content_type_of(a.name)};
  return std::nullopt;
}

void add_web_ui_routes(httplib::Server& server) {
  const auto serve = [&server](const std::string& route, const WebPage& page) {
    server.Get(route, [page](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_header("Content-Security-Policy", std::string(kWebContentSecurityPolicy));
      // Revalidated on every load, so a new binary's page is never mixed with an old cached script.
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Referrer-Policy", "no-referrer");
      res.set_content(page.bytes.data(), page.bytes.size(), std::string(page.content_type));
    });
  };
  serve("/", *web_page("/"));
  for (const WebAsset& asset : web_assets()) serve(route_of(asset.name), *web_page("/" + std::string(asset.name)));
}

}  // namespace hearth::server
