module github.com/natter/natter/services/presence

go 1.26.8
