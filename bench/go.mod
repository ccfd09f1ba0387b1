module github.com/natter/natter/bench

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/natter/natter/kit v0.0.0
)

replace github.com/natter/natter/kit => ../kit
