package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
)

// modelCommands returns run and doctor.
func modelCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newRunCmd(a), newDoctorCmd(a)}
}

func newDoctorCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Show the llama.cpp build, devices, paths and installed models",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := a.stdout
			fmt.Fprintf(w, "llama.cpp   %s\n", model.LlamaCommit)
			fmt.Fprintf(w, "backends    %s\n", strings.Join(model.Backends(), ", "))
			for _, d := range model.Devices() {
				fmt.Fprintf(w, "device      %s (%s): %s\n", d.Name, d.Kind, d.Description)
			}
			fmt.Fprintf(w, "cpu         %s\n", model.SystemInfo())
			fmt.Fprintf(w, "data        %s\n", a.paths.Data)
			fmt.Fprintf(w, "config      %s\n", a.paths.ConfigFile())
			fmt.Fprintf(w, "models dir  %s\n", a.paths.Models())
			models, err := store.New(a.paths.Models()).List()
			if err != nil {
				fmt.Fprintf(w, "models      error: %v\n", err)
				return nil
			}
			if len(models) == 0 {
				fmt.Fprintln(w, "models      none installed (sov pull hf.co/OWNER/REPO:QUANT or sov pull ./model.gguf --link)")
			}
			for _, m := range models {
				if m.Missing {
					fmt.Fprintf(w, "model       %s (file missing: %s)\n", m.Name, m.Path)
				} else {
					fmt.Fprintf(w, "model       %s\n", m.Name)
				}
			}
			return nil
		},
	}
}
