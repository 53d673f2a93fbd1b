// Package localchain runs a one-validator poktroll chain on this machine for
// the programs under scripts/ (make localnet, make localnet-check, make
// faults): the chain home made with poktrolld's own commands, the genesis
// and config edits, the node, RelayMiner and AppGate as processes with
// their logs, txs, queries, the node's CometBFT RPC and the relayer
// module's typed events in block results.
package localchain

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// ANSI styles, used when Printer.Color is set.
const (
	bold  = "\033[1m"
	dim   = "\033[2m"
	red   = "\033[31m"
	green = "\033[32m"
	reset = "\033[0m"
)

// Printer prints a program's progress lines: "[NAME 15:04:05] message",
// details indented under them, errors to stderr. With Color, stamps are
// bold, good news green, details dim and errors red.
type Printer struct {
	Name  string
	Color bool
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func (p *Printer) style(s, code string) string {
	if !p.Color {
		return s
	}
	return code + s + reset
}

// stamp is "[NAME 15:04:05]", or "[NAME 15:04:05 h=H]" for a height h > 0.
func (p *Printer) stamp(h int64) string {
	if h > 0 {
		return fmt.Sprintf("[%s %s h=%d]", p.Name, time.Now().Format("15:04:05"), h)
	}
	return fmt.Sprintf("[%s %s]", p.Name, time.Now().Format("15:04:05"))
}

// Say prints a progress line.
func (p *Printer) Say(format string, args ...any) {
	fmt.Println(p.style(p.stamp(0), bold), fmt.Sprintf(format, args...))
}

// SayAt prints a progress line with the height it is about.
func (p *Printer) SayAt(h int64, format string, args ...any) {
	fmt.Println(p.style(p.stamp(h), bold), fmt.Sprintf(format, args...))
}

// OK prints a progress line that is good news.
func (p *Printer) OK(format string, args ...any) {
	fmt.Println(p.style(p.stamp(0)+" "+fmt.Sprintf(format, args...), green))
}

// Warn prints a progress line that is bad news (the run goes on).
func (p *Printer) Warn(format string, args ...any) {
	fmt.Println(p.style(p.stamp(0), bold), p.style(fmt.Sprintf(format, args...), red))
}

// Detail prints a line indented under the previous one.
func (p *Printer) Detail(format string, args ...any) {
	fmt.Println(p.style("    "+fmt.Sprintf(format, args...), dim))
}

// DetailWarn prints an indented line that is bad news.
func (p *Printer) DetailWarn(format string, args ...any) {
	fmt.Println(p.style("    "+fmt.Sprintf(format, args...), red))
}

// Error prints an error line to stderr.
func (p *Printer) Error(format string, args ...any) {
	p.ErrorAt(0, format, args...)
}

// ErrorAt prints an error line about height h to stderr.
func (p *Printer) ErrorAt(h int64, format string, args ...any) {
	fmt.Fprintln(os.Stderr, p.style(p.stamp(h)+" "+fmt.Sprintf(format, args...), red))
}

// TailLogs prints the last n lines of each non-empty log to stderr, after a
// failure.
func (p *Printer) TailLogs(paths []string, n int) {
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "\n%s\n", p.style(fmt.Sprintf("==> %s (last %d lines) <==", path, n), bold))
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		fmt.Fprintln(os.Stderr, strings.Join(lines[max(0, len(lines)-n):], "\n"))
	}
}
