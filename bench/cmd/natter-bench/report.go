package main

import "errors"

func report(args []string) error { return errors.New("report: not yet") }
