package api

import (
	"encoding/json"
	"time"
)

// OllamaChatRequest is POST /api/chat.
type OllamaChatRequest struct {
	Model     string          `json:"model"`
	Messages  []OllamaMessage `json:"messages"`
	Tools     []Tool          `json:"tools,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"` // "json" or a JSON Schema
	Options   *OllamaOptions  `json:"options,omitempty"`
	Stream    *bool           `json:"stream,omitempty"` // default true
	KeepAlive *Duration       `json:"keep_alive,omitempty"`
}

// OllamaMessage is one chat message.
type OllamaMessage struct {
	Role      string           `json:"role"`
	Content   string           `json:"content"`
	Images    []string         `json:"images,omitempty"`
	ToolCalls []OllamaToolCall `json:"tool_calls,omitempty"`
	ToolName  string           `json:"tool_name,omitempty"`
}

// OllamaToolCall is a call the model made; its arguments are a JSON object.
type OllamaToolCall struct {
	Function OllamaFunctionCall `json:"function"`
}

// OllamaFunctionCall is a tool call's name and arguments.
type OllamaFunctionCall struct {
	Index     int             `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// OllamaOptions are the model options the server understands; others are
// ignored, as Ollama ignores options a runner does not use.
type OllamaOptions struct {
	NumCtx        *int     `json:"num_ctx,omitempty"`
	NumPredict    *int     `json:"num_predict,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"top_p,omitempty"`
	TopK          *int     `json:"top_k,omitempty"`
	MinP          *float64 `json:"min_p,omitempty"`
	RepeatPenalty *float64 `json:"repeat_penalty,omitempty"`
	RepeatLastN   *int     `json:"repeat_last_n,omitempty"`
	Seed          *int64   `json:"seed,omitempty"`
	Stop          Strings  `json:"stop,omitempty"`
}

// OllamaGenerateRequest is POST /api/generate.
type OllamaGenerateRequest struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	System    string          `json:"system,omitempty"`
	Raw       bool            `json:"raw,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Options   *OllamaOptions  `json:"options,omitempty"`
	Stream    *bool           `json:"stream,omitempty"`
	KeepAlive *Duration       `json:"keep_alive,omitempty"`
	Images    []string        `json:"images,omitempty"`
}

// OllamaMetrics are the counts and durations (nanoseconds) ending a reply.
type OllamaMetrics struct {
	TotalDuration      int64 `json:"total_duration,omitempty"`
	LoadDuration       int64 `json:"load_duration,omitempty"`
	PromptEvalCount    int   `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64 `json:"prompt_eval_duration,omitempty"`
	EvalCount          int   `json:"eval_count,omitempty"`
	EvalDuration       int64 `json:"eval_duration,omitempty"`
}

// OllamaChatResponse is /api/chat's reply, and each streamed line.
type OllamaChatResponse struct {
	Model      string        `json:"model"`
	CreatedAt  time.Time     `json:"created_at"`
	Message    OllamaMessage `json:"message"`
	Done       bool          `json:"done"`
	DoneReason string        `json:"done_reason,omitempty"`
	OllamaMetrics
}

// OllamaGenerateResponse is /api/generate's reply, and each streamed line.
type OllamaGenerateResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	OllamaMetrics
}

// OllamaEmbedRequest is POST /api/embed.
type OllamaEmbedRequest struct {
	Model     string    `json:"model"`
	Input     Strings   `json:"input"`
	Truncate  *bool     `json:"truncate,omitempty"`
	KeepAlive *Duration `json:"keep_alive,omitempty"`
}

// OllamaEmbedResponse is /api/embed's reply.
type OllamaEmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	LoadDuration    int64       `json:"load_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count,omitempty"`
}

// OllamaShowRequest is POST /api/show (older clients send name).
type OllamaShowRequest struct {
	Model string `json:"model"`
	Name  string `json:"name,omitempty"`
}

// OllamaShowResponse is /api/show's reply.
type OllamaShowResponse struct {
	Modelfile    string         `json:"modelfile"`
	Parameters   string         `json:"parameters"`
	Template     string         `json:"template"`
	Details      OllamaDetails  `json:"details"`
	ModelInfo    map[string]any `json:"model_info"`
	Capabilities []string       `json:"capabilities"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

// OllamaDetails describes a model file.
type OllamaDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// OllamaTags is GET /api/tags.
type OllamaTags struct {
	Models []OllamaModel `json:"models"`
}

// OllamaModel is one installed model.
type OllamaModel struct {
	Name       string        `json:"name"`
	Model      string        `json:"model"`
	ModifiedAt time.Time     `json:"modified_at"`
	Size       int64         `json:"size"`
	Digest     string        `json:"digest"`
	Details    OllamaDetails `json:"details"`
}

// OllamaPS is GET /api/ps.
type OllamaPS struct {
	Models []OllamaRunning `json:"models"`
}

// OllamaRunning is one loaded model. Sessions, Busy and Queued are sov's
// own additions.
type OllamaRunning struct {
	Name          string        `json:"name"`
	Model         string        `json:"model"`
	Size          int64         `json:"size"`
	Digest        string        `json:"digest"`
	Details       OllamaDetails `json:"details"`
	ExpiresAt     time.Time     `json:"expires_at"`
	SizeVRAM      int64         `json:"size_vram"`
	ContextLength int           `json:"context_length"`
	Sessions      int           `json:"sessions"`
	Busy          int           `json:"busy"`
	Queued        int           `json:"queued"`
	DraftModel    string        `json:"draft_model,omitempty"` // sov's: the model drafting for it
}

// OllamaVersion is GET /api/version.
type OllamaVersion struct {
	Version string `json:"version"`
}

// OllamaError is Ollama's error response.
type OllamaError struct {
	Error string `json:"error"`
}

// Duration is keep_alive: a Go duration string ("5m"), or a number of
// seconds; negative keeps the model loaded.
type Duration struct{ time.Duration }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case float64:
		d.Duration = time.Duration(t * float64(time.Second))
		if t < 0 {
			d.Duration = -1
		}
		return nil
	case string:
		p, err := time.ParseDuration(t)
		if err != nil {
			return err
		}
		if p < 0 {
			p = -1
		}
		d.Duration = p
		return nil
	}
	return errJSONType("keep_alive must be a duration such as \"5m\" or a number of seconds")
}

type errJSONType string

func (e errJSONType) Error() string { return string(e) }
