module github.com/natter/natter/proto

go 1.26.8
