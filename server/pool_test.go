package server

import (
	"testing"
	"time"

	"github.com/sovos/sov/model"
)

func TestPickSlot(t *testing.T) {
	sys := model.Message{Role: model.RoleSystem, Content: "You are a helpful assistant."}
	user := func(s string) model.Message { return model.Message{Role: model.RoleUser, Content: s} }
	reply := model.Message{Role: model.RoleAssistant, Content: "Once there was a cat."}
	t0 := time.Unix(1e9, 0)
	tests := []struct {
		name  string
		slots []slot
		msgs  []model.Message
		want  int
	}{
		{"the conversation it continues", []slot{
			{hist: []model.Message{sys, user("Tell story 1.0 about a cat."), reply}, used: t0},
			{hist: []model.Message{sys, user("Tell story 2.0 about a cat."), reply}, used: t0.Add(time.Second)},
		}, []model.Message{sys, user("Tell story 2.0 about a cat."), reply, user("Go on.")}, 1},
		{"a new conversation: the most of its start", []slot{
			{hist: []model.Message{sys, user("Tell story 1.0 about a cat."), reply}, used: t0},
			{hist: []model.Message{sys, user("Tell story 2.0 about a cat."), reply}, used: t0.Add(time.Second)},
		}, []model.Message{sys, user("Tell story 2.1 about a cat.")}, 1},
		{"equal starts: the one unused longest", []slot{
			{hist: []model.Message{sys, user("Hello"), reply}, used: t0.Add(time.Second)},
			{hist: []model.Message{sys, user("Bye"), reply}, used: t0},
		}, []model.Message{sys, user("Tell me a story.")}, 1},
		{"a busy slot is not taken", []slot{
			{hist: []model.Message{sys, user("Tell story 2.0 about a cat."), reply}, busy: true},
			{used: t0},
		}, []model.Message{sys, user("Tell story 2.1 about a cat.")}, 1},
		{"nothing shared: the unused one", []slot{
			{hist: []model.Message{user("Hello"), reply}, used: t0},
			{},
		}, []model.Message{sys, user("Hi")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slots := make([]*slot, len(tt.slots))
			for i := range tt.slots {
				slots[i] = &tt.slots[i]
			}
			if got := pickSlot(slots, tt.msgs); got != slots[tt.want] {
				for i, s := range slots {
					if s == got {
						t.Fatalf("picked slot %d, want %d", i, tt.want)
					}
				}
				t.Fatalf("picked %v, want slot %d", got, tt.want)
			}
		})
	}
}
