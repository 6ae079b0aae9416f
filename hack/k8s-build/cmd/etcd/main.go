// Command etcd is etcd v3.5 built from go.etcd.io/etcd/server/v3 (same as etcd's own main.go).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
