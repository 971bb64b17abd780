-- The seed's trace() example: prints how we got here to stderr.
function a_deep_function()
    trace() -- This will show you how you got here
end

function another_function()
    a_deep_function()
end

another_function()
