module github.com/pdeathsig/pdeathsig/go

go 1.19
