// Reads a Prometheus rule file with Prometheus' own code (model/rulefmt and the PromQL parser of the version pinned
// in go.mod), as Prometheus does when it loads rule_files, and prints each alert with its expression as Prometheus
// reads it. Exits 1, naming the rule, on the first file that does not load. test/deploy/monitoring.spec.ts builds
// and runs it on ../alerts.yml:
//
//	go build -o ../../../.local/bin/promcheck . && ../../../.local/bin/promcheck ../alerts.yml
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: promcheck <rule file>")
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.ParseFile(os.Args[1], false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		fmt.Println("ERROR:", err)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	for _, group := range groups.Groups {
		for _, rule := range group.Rules {
			expr, err := p.ParseExpr(rule.Expr)
			if err != nil {
				fmt.Println("ERROR:", rule.Alert, err)
				os.Exit(1)
			}
			fmt.Printf("%s: %s\n", rule.Alert, expr.String())
		}
	}
}
