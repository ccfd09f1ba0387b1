module github.com/natter/natter/services/history

go 1.26.8
