package app

import (
	"fmt"
	"strings"

	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
)

// Doctor is what sov can say about its own set-up: the llama.cpp build and
// the devices it sees, where sov keeps things, and the installed models.
type Doctor struct {
	LlamaCommit string         `json:"llama_cpp"`
	Backends    []string       `json:"backends"`
	Devices     []model.Device `json:"devices"`
	CPU         string         `json:"cpu"`
	Data        string         `json:"data"`
	Config      string         `json:"config"`
	ModelsDir   string         `json:"models_dir"`
	Models      []store.Model  `json:"models"`
	ModelsErr   error          `json:"-"` // the store could not be read
}

// Doctor looks at the build, the devices and the model store.
func (a *App) Doctor() Doctor {
	d := Doctor{LlamaCommit: model.LlamaCommit, Backends: model.Backends(), Devices: model.Devices(), CPU: model.SystemInfo(),
		Data: a.Paths.Data, Config: a.Paths.ConfigFile(), ModelsDir: a.Paths.Models()}
	d.Models, d.ModelsErr = a.Models().List()
	return d
}

// String is the report as aligned text. Device names and paths come from
// outside: a terminal gets it cleaned.
func (d Doctor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llama.cpp   %s\nbackends    %s\n", d.LlamaCommit, strings.Join(d.Backends, ", "))
	for _, dev := range d.Devices {
		fmt.Fprintf(&b, "device      %s (%s): %s\n", dev.Name, dev.Kind, dev.Description)
	}
	fmt.Fprintf(&b, "cpu         %s\ndata        %s\nconfig      %s\nmodels dir  %s\n", d.CPU, d.Data, d.Config, d.ModelsDir)
	switch {
	case d.ModelsErr != nil:
		fmt.Fprintf(&b, "models      error: %v\n", d.ModelsErr)
	case len(d.Models) == 0:
		fmt.Fprintln(&b, "models      none installed")
	}
	for _, m := range d.Models {
		if m.Missing {
			fmt.Fprintf(&b, "model       %s (file missing: %s)\n", m.Name, m.Path)
		} else {
			fmt.Fprintf(&b, "model       %s\n", m.Name)
		}
	}
	return b.String()
}
