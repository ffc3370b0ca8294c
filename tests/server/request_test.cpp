// Request parsing: field types, ranges, defaults and what is refused, without a model or a socket.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/model_set.h"
#include "server/request.h"

namespace hearth::server {
namespace {

// The ApiError a body raises (status, param), or status 0.
std::pair<int, std::string> error_of(void (*parse)(std::string_view), const std::string& body) {
  try {
    parse(body);
  } catch (const ApiError& e) {
    return {e.status(), e.param()};
  }
  return {0, ""};
}
void chat(std::string_view b) { parse_chat_request(b); }
void completion(std::string_view b) { parse_completion_request(b); }
void embedding(std::string_view b) { parse_embedding_request(b); }
void rerank(std::string_view b) { parse_rerank_request(b); }

TEST(ServerRequest, ChatDefaultsAndContentParts) {
  const ChatRequest r = parse_chat_request(R"({"model":"m","messages":[
      {"role":"developer","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
      "seed":5,"n":2,"stop":"x","max_tokens":3,"max_completion_tokens":4,"temperature":null,"future":1})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "ab");
  EXPECT_EQ(r.seed, 5);
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r.max_tokens, 4);  // max_completion_tokens wins
  EXPECT_EQ(r.temperature, 1.0f);  // null: the default
  EXPECT_EQ(r.top_logprobs, -1);
}

TEST(ServerRequest, ChatRejectsNamingTheField) {
  const std::string m = R"("model":"m","messages":[{"role":"user","content":"hi"}])";
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"temperature":"hot"})"), std::make_pair(400, std::string("temperature")));
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"temperature":3})").second, "temperature");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"n":0})").second, "n");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"n":1.5})").second, "n");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"stop":[1]})").second, "stop");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"stop":["a","b","c","d","e"]})").second, "stop");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"top_logprobs":2})").second, "top_logprobs");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"stream_options":{"include_usage":true}})").second, "stream_options");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"tools":[{"type":"x"}]})").second, "tools[0]");
  EXPECT_EQ(error_of(chat, R"({"messages":[{"role":"user","content":"hi"}]})").second, "model");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[]})").second, "messages");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"robot","content":"x"}]})").second, "messages[0].role");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})").second,
            "messages[0].content");
  EXPECT_EQ(error_of(chat, "[1]").first, 400);
  EXPECT_EQ(error_of(chat, "{").first, 400);
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"seed":9223372036854775807})").first, 0);
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"seed":18446744073709551615})").second, "seed");
}

TEST(ServerRequest, ToolsAndToolChoice) {
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"get_weather","description":"d",
         "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
        {"type":"function","function":{"name":"ping"}}])";
  const ChatRequest r = parse_chat_request(R"({"model":"m","messages":[
      {"role":"user","content":"weather?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"sunny"}],)" + tools + "}");
  EXPECT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);  // the default once tools are given
  EXPECT_TRUE(r.parallel_tool_calls);
  EXPECT_EQ(r.messages[1]["content"], "");
  EXPECT_EQ(r.messages[1]["tool_calls"][0]["function"]["arguments"]["city"], "Oslo");  // parsed for templates
  EXPECT_EQ(r.messages[2]["tool_call_id"], "call_1");

  const std::string m = R"("model":"m","messages":[{"role":"user","content":"hi"}],)" + tools;
  EXPECT_EQ(parse_chat_request("{" + m + R"(,"tool_choice":"required","parallel_tool_calls":false})").tool_choice,
            ToolChoice::kRequired);
  const ChatRequest named = parse_chat_request("{" + m + R"(,"tool_choice":{"type":"function","function":{"name":"ping"}}})");
  EXPECT_EQ(named.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(named.tool_choice_name, "ping");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"tool_choice":{"type":"function","function":{"name":"nope"}}})").second, "tool_choice");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"tool_choice":"sometimes"})").second, "tool_choice");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"tool_choice":"required","grammar":"root ::= \"a\""})").second, "tool_choice");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})").second,
            "tool_choice");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"a b"}}]})").second, "tools[0].function.name");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"a","parameters":[]}}]})").second, "tools[0].function.parameters");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"tool","content":"x"}]})").second, "messages[0].tool_call_id");
  EXPECT_EQ(error_of(chat, R"({"model":"m","messages":[{"role":"function","name":"f","content":"x"}]})").first, 400);
}

TEST(ServerRequest, ResponseFormatGrammarAndLogitBias) {
  const std::string m = R"("model":"m","messages":[{"role":"user","content":"hi"}])";
  EXPECT_TRUE(parse_chat_request("{" + m + R"(,"response_format":{"type":"json_object"}})").json_object);
  EXPECT_EQ(parse_chat_request("{" + m + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x",
      "schema":{"type":"integer"}}}})").json_schema, R"({"type":"integer"})");
  EXPECT_TRUE(parse_chat_request("{" + m + R"(,"response_format":{"type":"text"}})").json_schema.empty());
  EXPECT_EQ(parse_chat_request("{" + m + R"(,"grammar":"root ::= \"a\""})").grammar, "root ::= \"a\"");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"response_format":{"type":"yaml"}})").second, "response_format.type");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"response_format":{"type":"json_schema"}})").second, "response_format.json_schema");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""})").second,
            "response_format");
  const ChatRequest b = parse_chat_request("{" + m + R"(,"logit_bias":{"15":-100,"7":2.5}})");
  ASSERT_EQ(b.logit_bias.size(), 2u);
  EXPECT_EQ(b.logit_bias[0], std::make_pair(int32_t(15), -100.0f));
  EXPECT_EQ(b.logit_bias[1], std::make_pair(int32_t(7), 2.5f));
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"logit_bias":{"x":1}})").second, "logit_bias");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"logit_bias":{"5":101}})").second, "logit_bias");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"logit_bias":{"99999999999":1}})").second, "logit_bias");
  EXPECT_EQ(error_of(chat, "{" + m + R"(,"logit_bias":[1]})").second, "logit_bias");
}

TEST(ServerRequest, LoraAdapters) {
  const std::string m = R"("model":"m","prompt":"hi")";
  EXPECT_FALSE(parse_completion_request("{" + m + "}").lora.has_value());
  EXPECT_TRUE(parse_completion_request("{" + m + R"(,"lora":[]})").lora->empty());
  const CompletionRequest r =
      parse_completion_request("{" + m + R"(,"lora":["a",{"name":"b","scale":-0.5},{"name":"c"}]})");
  ASSERT_EQ(r.lora->size(), 3u);
  EXPECT_EQ((*r.lora)[0].name, "a");
  EXPECT_FALSE((*r.lora)[0].scale.has_value());
  EXPECT_EQ((*r.lora)[1].scale, -0.5f);
  EXPECT_EQ((*r.lora)[2].name, "c");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":"a"})").second, "lora");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":[{"scale":1}]})").second, "lora[0].name");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":[{"name":"a","scale":"x"}]})").second, "lora[0].scale");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":[{"name":"a","scale":1000}]})").second, "lora[0].scale");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":[""]})").second, "lora[0].name");
  EXPECT_EQ(error_of(completion, "{" + m + R"(,"lora":[7]})").second, "lora[0]");
  const std::string c = R"("model":"m","messages":[{"role":"user","content":"hi"}])";
  EXPECT_EQ(parse_chat_request("{" + c + R"(,"lora":["a"]})").lora->at(0).name, "a");
}

TEST(ServerRequest, Completions) {
  const CompletionRequest r = parse_completion_request(R"({"model":"m","prompt":["a","b"],"echo":true,"logprobs":2})");
  EXPECT_EQ(r.prompts.size(), 2u);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.top_logprobs, 2);
  EXPECT_EQ(r.max_tokens, 16);  // OpenAI's default for this endpoint
  EXPECT_EQ(error_of(completion, R"({"model":"m","prompt":"a","suffix":"b"})").second, "suffix");
  EXPECT_EQ(error_of(completion, R"({"model":"m","prompt":[1,2]})").second, "prompt");
  EXPECT_EQ(error_of(completion, R"({"model":"m","prompt":["a",1]})").second, "prompt");
}

TEST(ServerRequest, Embeddings) {
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":"a"})").texts, std::vector<std::string>{"a"});
  const EmbeddingRequest ids = parse_embedding_request(R"({"model":"m","input":[[1,2],[3]],"encoding_format":"base64"})");
  EXPECT_EQ(ids.token_inputs.size(), 2u);
  EXPECT_TRUE(ids.base64);
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":[7,8]})").token_inputs[0], (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(parse_embedding_request(R"({"model":"m","input":"a","dimensions":4})").dimensions, 4);
  EXPECT_EQ(error_of(embedding, R"({"model":"m","input":"a","dimensions":0})").second, "dimensions");
  EXPECT_EQ(error_of(embedding, R"({"model":"m","input":"a","encoding_format":"int8"})").second, "encoding_format");
  EXPECT_EQ(error_of(embedding, R"({"model":"m","input":[-1]})").second, "input");
  EXPECT_EQ(error_of(embedding, R"({"model":"m","input":["a",[1]]})").second, "input");
  EXPECT_EQ(error_of(embedding, R"({"model":"m","input":[]})").second, "input");
}

TEST(ServerRequest, Rerank) {
  const RerankRequest r =
      parse_rerank_request(R"({"model":"m","query":"q","documents":["a",{"text":"b","id":7}],"top_n":1})");
  EXPECT_EQ(r.query, "q");
  EXPECT_EQ(r.documents, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.top_n, 1);
  EXPECT_FALSE(r.return_documents);  // Cohere's default
  EXPECT_FALSE(r.raw_scores);
  const RerankRequest all = parse_rerank_request(
      R"({"model":"m","query":"","documents":[""],"top_n":null,"return_documents":true,"raw_scores":true})");
  EXPECT_FALSE(all.top_n);
  EXPECT_TRUE(all.return_documents);
  EXPECT_TRUE(all.raw_scores);
  const std::string m = R"("model":"m","query":"q")";
  EXPECT_EQ(error_of(rerank, "{" + m + "}").second, "documents");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":[]})"), std::make_pair(400, std::string("documents")));
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":"a"})").second, "documents");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":["a",3]})").second, "documents[1]");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":[{"title":"x"}]})").second, "documents[0]");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":["a"],"top_n":0})").second, "top_n");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":["a"],"top_n":"2"})").second, "top_n");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":["a"],"return_documents":1})").second, "return_documents");
  EXPECT_EQ(error_of(rerank, "{" + m + R"(,"documents":["a"],"rank_fields":["x"]})").second, "rank_fields");
  EXPECT_EQ(error_of(rerank, R"({"model":"m","documents":["a"]})").second, "query");
  EXPECT_EQ(error_of(rerank, R"({"model":"m","query":5,"documents":["a"]})").second, "query");
  EXPECT_EQ(error_of(rerank, R"({"query":"q","documents":["a"]})").second, "model");
  std::string many = "{" + m + R"(,"documents":[)";
  for (int i = 0; i < 1001; ++i) many += std::string(i ? "," : "") + "\"d\"";
  EXPECT_EQ(error_of(rerank, many + "]}").second, "documents");
}

TEST(ServerRequest, ModelSpecs) {
  EXPECT_EQ(parse_model_spec("/m/stories260K.gguf").id, "stories260K");
  const ModelSpec a = parse_model_spec("chat=/m/x.gguf");
  EXPECT_EQ(a.id, "chat");
  EXPECT_EQ(a.path, "/m/x.gguf");
  EXPECT_EQ(parse_model_spec("/m/a=b.gguf").id, "a=b");  // '=' after a '/' is part of the path
  EXPECT_EQ(parse_model_spec("/m/folder/").id, "folder");
}

TEST(ServerRequest, StatusOfKinds) {
  EXPECT_EQ(http_status(ErrorKind::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorKind::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorKind::kBusy), 429);
  EXPECT_EQ(http_status(ErrorKind::kCorruptData), 500);
  EXPECT_EQ(http_status(ErrorKind::kResourceExhausted), 503);
  const auto body = error_body("bad", 400, "temperature");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "temperature");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

}  // namespace
}  // namespace hearth::server
