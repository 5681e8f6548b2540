package ledger

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
)

// Listing is entries as a table, one a line; damaged ones say why.
type Listing []Entry

func (l Listing) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tKIND\tBY\tSIGNED\tHASH")
	for _, e := range l {
		if e.Err != nil {
			fmt.Fprintf(tw, "%d\t-\tdamaged\t-\t-\t%s\n", e.Seq, e.Err)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%v\t%s\n", e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.Kind, e.Principal, e.Signed(), e.Hash[:12])
	}
	tw.Flush()
	return b.String()
}

// String lists the problems Verify found, one a line, then its tally.
func (r Report) String() string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintln(&b, p)
	}
	key := "no key yet"
	if r.KeyID != "" {
		key = "key " + r.KeyID[:16] + "…"
	}
	fmt.Fprintf(&b, "%d entries (%s): %d signed, %d covered by a later signature, %d not yet signed; %d checkpoints; root %s\n",
		r.Entries, key, r.Signed, r.Covered, r.Unsigned, r.Checkpoints, r.Root)
	return b.String()
}

// ExportFile writes Export's lines to path, a new file (an error matching
// fs.ErrExist otherwise), and the public key as PEM to path.pub, for a
// third party to check them. It returns how many entries it wrote and the
// key (ErrNoKey before the first signature); on failure path is removed.
func (l *Ledger) ExportFile(path string) (int, KeyInfo, error) {
	k, err := l.LoadKey()
	if err != nil {
		return 0, k, err
	}
	pub, err := k.PublicPEM()
	if err != nil {
		return 0, k, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, k, fmt.Errorf("ledger export: %w", err)
	}
	n, err := l.Export(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(path+".pub", pub, 0o644)
	}
	if err != nil {
		os.Remove(path)
		return 0, k, err
	}
	return n, k, nil
}
