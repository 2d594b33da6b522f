// Command plainpb is plain PocketBase, the same version as the project's
// binary and nothing registered: the baseline of the bench command.
package main

import (
	"log"

	"github.com/pocketbase/pocketbase"
)

func main() {
	if err := pocketbase.New().Start(); err != nil {
		log.Fatal(err)
	}
}
