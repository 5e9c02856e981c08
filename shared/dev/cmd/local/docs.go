package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/workerfleet/workerfleet/shared/cloud"
	_ "github.com/workerfleet/workerfleet/shared/dev/fakecloud" // registers the fake driver's help
)

// driverDocs writes the cloud drivers' options as markdown, from the drivers' own
// help text; docs/provisioning.md holds this output verbatim (a test checks it).
func driverDocs(w io.Writer) {
	for _, d := range cloud.Drivers() {
		fmt.Fprintf(w, "#### `%s`: %s\n\n| option | default | what it does |\n|---|---|---|\n", d.Alias, d.Name)
		for _, o := range d.Options {
			def := o.Default
			if def == "" {
				def = " "
			}
			fmt.Fprintf(w, "| `%s` | %s | %s |\n", o.Name, escapeCell(def), escapeCell(o.Help))
		}
		fmt.Fprintln(w)
	}
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
