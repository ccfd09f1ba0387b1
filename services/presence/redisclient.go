package presence

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// RedisClient connects to the Redis deployment that c names: the nodes of
// RedisCluster, else the primary that RedisSentinels name, else the
// server of RedisURL. c has its defaults (WithDefaults).
func (c Config) RedisClient() (redis.UniversalClient, error) {
	switch {
	case len(c.RedisCluster) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    c.RedisCluster,
			Password: c.RedisPassword,
		}), nil
	case len(c.RedisSentinels) > 0:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       c.RedisMaster,
			SentinelAddrs:    c.RedisSentinels,
			Password:         c.RedisPassword,
			SentinelPassword: c.RedisSentinelPassword,
		}), nil
	default:
		opts, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", withoutURL(err))
		}
		if opts.Password == "" {
			opts.Password = c.RedisPassword
		}
		return redis.NewClient(opts), nil
	}
}

// withoutURL is err of parsing a URL without the URL, which may hold a
// password.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// hostPorts checks that each address of variable name is a host:port,
// and returns them.
func hostPorts(name string, addrs []string) ([]string, error) {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err == nil {
			if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
				err = fmt.Errorf("port %q", port)
			} else if host == "" {
				err = errors.New("no host")
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %q: want host:port,...: %w", name, a, err)
		}
	}
	return addrs, nil
}
