// ts-jest compiles the sources to CommonJS for node. @jupyter/ydoc ships only ES modules,
// so it is compiled too: the apply tests run against the real shared notebook model.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  transform: {
    '^.+\\.[jt]s$': [
      'ts-jest',
      { tsconfig: { module: 'commonjs', allowJs: true, types: ['jest'] } }
    ]
  },
  transformIgnorePatterns: ['/node_modules/(?!@jupyter/ydoc/)']
};
