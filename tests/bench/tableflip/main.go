// The tableflip peer for upgrade_storm: an HTTP server that upgrades itself
// on SIGHUP the way Cloudflare's tableflip documents it. Our code, Debian's
// golang-github-cloudflare-tableflip-dev library.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve")
	pidFile := flag.String("pid-file", "", "where the current process writes its pid")
	flag.Parse()

	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	if err != nil {
		log.Fatal(err)
	}
	defer upg.Stop()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		for range sig {
			if err := upg.Upgrade(); err != nil {
				log.Println("upgrade failed:", err)
			}
		}
	}()

	ln, err := upg.Fds.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})}
	go server.Serve(ln)

	if err := upg.Ready(); err != nil {
		log.Fatal(err)
	}
	<-upg.Exit()

	// What tableflip's documentation does: stop accepting, then Shutdown,
	// which closes idle keep-alive connections at once.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server.Shutdown(ctx)
}
