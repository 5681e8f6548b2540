package server

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// TestOpenAIGoClient drives sov serve with OpenAI's official Go SDK
// (github.com/openai/openai-go/v3), as the TypeScript script does with
// theirs: model listing, a chat and the same chat streamed, a forced tool
// call and the same call streamed, json_schema output, embeddings, and a
// max_tokens above the cap. Each check reads what came back, not only the
// status.
func TestOpenAIGoClient(t *testing.T) {
	f := newFixture(t, Config{MaxTokens: 512, APIKey: "k3"})
	ctx := context.Background()
	client := openai.NewClient(option.WithBaseURL(f.hs.URL+"/v1/"), option.WithAPIKey("k3"), option.WithMaxRetries(0))

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if len(ids) != 1 || ids[0] != "stories" {
			t.Fatalf("models %q, want [stories]", ids)
		}
	})

	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time")}
	chat := openai.ChatCompletionNewParams{Model: "stories", Messages: msgs, MaxTokens: openai.Int(20), Temperature: openai.Float(0)}
	t.Run("chat and stream", func(t *testing.T) {
		plain, err := client.Chat.Completions.New(ctx, chat)
		if err != nil {
			t.Fatal(err)
		}
		text := plain.Choices[0].Message.Content
		if text == "" || plain.Usage.CompletionTokens < 1 || plain.Choices[0].FinishReason == "" {
			t.Fatalf("chat: %s", plain.RawJSON())
		}
		streamed := chat
		streamed.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, streamed)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != text || chunks < 3 {
			t.Fatalf("streamed %q in %d chunks, unstreamed %q", got, chunks, text)
		}
		if acc.Usage.CompletionTokens != plain.Usage.CompletionTokens {
			t.Fatalf("streamed usage %d tokens, unstreamed %d", acc.Usage.CompletionTokens, plain.Usage.CompletionTokens)
		}
	})

	t.Run("tool call", func(t *testing.T) {
		p := openai.ChatCompletionNewParams{
			Model:     "stories",
			Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			MaxTokens: openai.Int(64),
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
				Name: "get_weather", Description: openai.String("Weather in a city"),
				Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string", "maxLength": 12}},
					"required": []string{"city"}, "additionalProperties": false},
			})},
			ToolChoice: openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}),
		}
		res, err := client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		calls := res.Choices[0].Message.ToolCalls
		if len(calls) != 1 || calls[0].Function.Name != "get_weather" || res.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("tool call: %s", res.RawJSON())
		}
		var args struct {
			City *string `json:"city"`
		}
		if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args.City == nil || len(*args.City) > 12 {
			t.Fatalf("arguments %q: %v", calls[0].Function.Arguments, err)
		}

		stream := client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		deltas := 0
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			c := stream.Current()
			acc.AddChunk(c)
			if len(c.Choices) > 0 && len(c.Choices[0].Delta.ToolCalls) > 0 {
				deltas++
			}
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if deltas < 1 || len(finished) != 1 || finished[0].Name != "get_weather" || finished[0].Arguments != calls[0].Function.Arguments {
			t.Fatalf("streamed tool call: %d deltas, finished %+v, unstreamed arguments %q", deltas, finished, calls[0].Function.Arguments)
		}
	})

	t.Run("json_schema", func(t *testing.T) {
		schema := map[string]any{"type": "object", "properties": map[string]any{
			"name": map[string]any{"type": "string", "maxLength": 10},
			"age":  map[string]any{"type": "integer", "minimum": 0, "maximum": 120},
		}, "required": []string{"name", "age"}, "additionalProperties": false}
		res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "stories", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("A person")}, MaxTokens: openai.Int(64),
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Schema: schema, Strict: openai.Bool(true)}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var person struct {
			Name *string  `json:"name"`
			Age  *float64 `json:"age"`
		}
		content := res.Choices[0].Message.Content
		if err := json.Unmarshal([]byte(content), &person); err != nil || person.Name == nil || len(*person.Name) > 10 ||
			person.Age == nil || *person.Age != math.Trunc(*person.Age) || *person.Age < 0 || *person.Age > 120 {
			t.Fatalf("json_schema content %q: %v", content, err)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		res, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "stories",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a cat", "a dog"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 2 || len(res.Data[0].Embedding) < 8 || res.Data[1].Index != 1 {
			t.Fatalf("embeddings: %d vectors", len(res.Data))
		}
		for _, d := range res.Data {
			norm := 0.0
			for _, x := range d.Embedding {
				norm += x * x
			}
			if math.Abs(norm-1) > 1e-3 {
				t.Fatalf("embedding %d: norm² %v", d.Index, norm)
			}
		}
	})

	t.Run("over the cap", func(t *testing.T) {
		over := chat
		over.MaxTokens = openai.Int(1_000_000)
		_, err := client.Chat.Completions.New(ctx, over)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "cap") {
			t.Fatalf("max_tokens above the cap: %v", err)
		}
	})
}
