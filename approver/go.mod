module kubelet-bootstrap/approver

go 1.22
