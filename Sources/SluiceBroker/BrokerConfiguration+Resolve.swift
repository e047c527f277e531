extension BrokerConfiguration {
    /// Builds the configuration from, in increasing precedence: the defaults, a config file
    /// (`--config`, else `SLUICE_CONFIG`), environment variables (`SLUICE_GRPC_PORT`, ...) and
    /// flags. Each value is checked as it is read, then the whole is checked by `validate()`.
    ///
    /// - Parameters:
    ///   - flags: settings given on the command line, as typed.
    ///   - configPath: the `--config` flag, if given.
    ///   - environment: the process environment (injectable for tests).
    /// - Throws: `.invalidConfiguration` naming the first bad setting and where it came from.
    public static func resolve(
        flags: [BrokerSetting: String], configPath: String?, environment: [String: String]
    ) throws(BrokerError) -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        if let path = configPath ?? environment[BrokerSetting.configEnvironmentVariable] {
            for (setting, value) in try ConfigFile.load(path) {
                try configuration.apply(setting, value, from: .configFile(path: path))
            }
        }
        for setting in BrokerSetting.allCases {
            if let value = environment[setting.environmentVariable] {
                try configuration.apply(setting, value, from: .environment)
            }
        }
        for setting in BrokerSetting.allCases {
            if let value = flags[setting] {
                try configuration.apply(setting, value, from: .flag)
            }
        }
        try configuration.validate()
        return configuration
    }
}
