// Command etcd runs the upstream etcd server; etcd's own root module is not on the module proxy, so this
// wrapper calls the same entry point its main.go calls.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
